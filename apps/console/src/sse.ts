/** One server-sent event: its name (`message` when the block names none) and its data lines joined. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Splits what arrived of a text/event-stream into complete events and the rest (an event is
 * complete at its blank line). Comment lines (`: keep-alive`) and `id:` lines are skipped.
 */
export function splitSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const normalised = buffer.replace(/\r\n/g, '\n');
  const blocks = normalised.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) events.push({ event, data: data.join('\n') });
  }
  return { events, rest };
}
