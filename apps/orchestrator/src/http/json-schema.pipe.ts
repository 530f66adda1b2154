import { Injectable, type PipeTransform } from '@nestjs/common';
import type { ValidateFunction } from 'ajv';
import { createAjv, formatIssues, schemaIssues } from '@yunbian/common';
import { YunbianError } from '@yunbian/transport';

const ajv = createAjv({ useDefaults: true });

/** Validates a request body against a JSON Schema; 400 lists each problem with its pointer. */
@Injectable()
export class JsonSchemaPipe implements PipeTransform {
  private readonly validate: ValidateFunction;

  constructor(schema: Record<string, unknown>) {
    this.validate = ajv.compile(schema);
  }

  transform(value: unknown): unknown {
    if (!this.validate(value)) {
      const issues = schemaIssues(this.validate, value);
      throw new YunbianError('VALIDATION_FAILED', `request body is invalid: ${formatIssues(issues)}`, { issues });
    }
    return value;
  }
}
