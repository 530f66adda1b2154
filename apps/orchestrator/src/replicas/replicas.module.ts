import { Global, Module } from '@nestjs/common';
import { ReplicaService } from './replicas.service';

/** Provides the process's one `ReplicaService` (leases of cloud replicas, leadership, fencing) to every module. */
@Global()
@Module({ providers: [ReplicaService], exports: [ReplicaService] })
export class ReplicasModule {}
