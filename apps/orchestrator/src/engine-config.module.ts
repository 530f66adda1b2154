import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ENGINE_CONFIG, type EngineConfig } from './engine-config';

/** Provides the process's one `EngineConfig` (read once at start, by `main`) to every module. */
@Global()
@Module({})
export class EngineConfigModule {
  static forRoot(config: EngineConfig): DynamicModule {
    return {
      module: EngineConfigModule,
      providers: [{ provide: ENGINE_CONFIG, useValue: config }],
      exports: [ENGINE_CONFIG],
    };
  }
}
