import { Injectable, type PipeTransform } from '@nestjs/common';
import type { ValidateFunction } from 'ajv';
import { createAjv, formatIssues, schemaIssues } from '@yunbian/common';
import { YunbianError } from '@yunbian/transport';
import { missingBodyMessage } from './request-mistakes';

const ajv = createAjv({ useDefaults: true });

/** Validates a request body against a JSON Schema; 400 lists each problem with its pointer. */
@Injectable()
export class JsonSchemaPipe implements PipeTransform {
  private readonly validate: ValidateFunction;

  constructor(schema: Record<string, unknown>) {
    this.validate = ajv.compile(schema);
  }

  transform(value: unknown): unknown {
    // No body at all (curl -XPOST without -d) would read as "/ must be object".
    if (value === undefined) throw new YunbianError('BAD_REQUEST', missingBodyMessage());
    if (!this.validate(value)) {
      const issues = schemaIssues(this.validate, value);
      throw new YunbianError('VALIDATION_FAILED', `request body is invalid: ${formatIssues(issues)}`, { issues });
    }
    return value;
  }
}
