import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { ApiKeyStore } from './api-key.store';
import { AuditService } from './audit.service';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { AUTH_CONFIG, type AuthConfig } from './auth-tokens';

/**
 * Credentials, keys, rate limits and the audit log. Global: `AuditService.record` is for any
 * module. The guard itself is registered in AppModule, first of the global guards.
 */
@Global()
@Module({})
export class AuthModule {
  static forRoot(config: AuthConfig): DynamicModule {
    return {
      module: AuthModule,
      imports: [
        ThrottlerModule.forRoot({ throttlers: [{ name: 'default', ttl: 60_000, limit: config.rateLimitPerMin }] }),
      ],
      controllers: [AuthController],
      providers: [{ provide: AUTH_CONFIG, useValue: config }, ApiKeyStore, AuthService, AuditService, AuthGuard],
      exports: [AUTH_CONFIG, ApiKeyStore, AuthService, AuditService, AuthGuard, ThrottlerModule],
    };
  }
}
