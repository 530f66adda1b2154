import { Module, type DynamicModule } from '@nestjs/common';
import { EnrolmentController } from './enrolment.controller';
import { ENROLMENT_JOIN_TOKEN, ENROLMENT_TRUST, EnrolmentService } from './enrolment.service';

/** Node enrolment and NATS credential revocation (cloud engines only: the trust stays in the cloud). */
@Module({})
export class EnrolmentModule {
  static forRoot(trustDir: string | undefined, joinToken?: string): DynamicModule {
    return {
      module: EnrolmentModule,
      controllers: [EnrolmentController],
      providers: [
        { provide: ENROLMENT_TRUST, useValue: trustDir },
        { provide: ENROLMENT_JOIN_TOKEN, useValue: joinToken },
        EnrolmentService,
      ],
      exports: [EnrolmentService],
    };
  }
}
