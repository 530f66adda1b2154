import { Jimp } from 'jimp';
import { waitUntil } from '@yunbian/common';
import { Subjects, type InstanceRecord } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';

async function post<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${json.message}`);
  return json;
}

/**
 * Deploys the bundled data services on the edge nodes and calls them over NATS, so a
 * newcomer sees the catalogue, placement checks and a real request/reply at once.
 */
export async function runDemo(api: string, natsUrl: string, say: (line?: string) => void): Promise<void> {
  say('\ndemo: starting json-transform on edge-a and image-resize on edge-b…');
  const started = [
    await post<InstanceRecord>(`${api}/instances`, { service: 'json-transform@^1', nodeId: 'edge-a' }),
    await post<InstanceRecord>(`${api}/instances`, { service: 'image-resize@^1', nodeId: 'edge-b' }),
  ];
  for (const instance of started) {
    await waitUntil(
      async () =>
        ((await (await fetch(`${api}/instances/${instance.id}`)).json()) as InstanceRecord).status === 'ready',
      30_000,
      `instance ${instance.id} to be ready`,
      100,
    );
    say(`demo: ${instance.id} ready on ${instance.nodeId} (subject ${instance.subject})`);
  }

  const transport = await NatsTransport.connect({ servers: natsUrl, name: 'stack demo' });
  try {
    const readings = {
      sensors: [
        { id: 't1', celsius: 21.5 },
        { id: 't2', celsius: 48.1 },
        { id: 't3', celsius: 19.9 },
      ],
    };
    const expression = '{ "hot": sensors[celsius > 40].id, "mean": $round($average(sensors.celsius), 2) }';
    const transformed = await transport.request<{ result: unknown }>(Subjects.service('json-transform', '1.0.0'), {
      expression,
      data: readings,
    });
    say(`demo: json-transform ${expression}\n      → ${JSON.stringify(transformed.result)}`);

    const image = new Jimp({ width: 640, height: 480, color: 0x3366ccff });
    const png = await image.getBuffer('image/png');
    const resized = await transport.request<{ width: number; height: number; mime: string; image: string }>(
      Subjects.service('image-resize', '1.0.0'),
      { image: png.toString('base64'), width: 160, format: 'jpeg' },
      { timeoutMs: 15_000 },
    );
    say(
      `demo: image-resize 640×480 PNG → ${resized.width}×${resized.height} ${resized.mime} (${Buffer.from(resized.image, 'base64').length} bytes)`,
    );
    const tooBig = 'x'.repeat(transport.maxPayload);
    await transport
      .request(Subjects.service('json-transform', '1.0.0'), { expression: '$', data: tooBig })
      .catch((err: Error) => {
        say(`demo: an oversized request is refused before it leaves: ${err.message}`);
      });
  } finally {
    await transport.close();
  }
}
