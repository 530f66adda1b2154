/**
 * A failure `yb` reports as one message (no stack trace) and an exit status: 1 unless said
 * otherwise. Everything a user can get wrong ends as one of these.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
