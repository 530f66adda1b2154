import { Global, Module } from '@nestjs/common';
import { ModelAliasesService } from './model-aliases.service';

/** The model aliases, in both engine modes: routing reads them; the cloud's registry API writes them. */
@Global()
@Module({
  providers: [ModelAliasesService],
  exports: [ModelAliasesService],
})
export class ModelAliasesModule {}
