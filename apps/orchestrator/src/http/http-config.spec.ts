import { DEFAULT_JSON_MAX_DEPTH, loadHttpConfig } from './http-config';

describe('loadHttpConfig', () => {
  it('has defaults', () => {
    expect(loadHttpConfig({})).toEqual({
      port: 3000,
      host: '0.0.0.0',
      bodyLimit: '8mb',
      jsonMaxDepth: DEFAULT_JSON_MAX_DEPTH,
    });
  });

  it('reads the settings', () => {
    expect(
      loadHttpConfig({ PORT: '8080', HOST: '127.0.0.1', YUNBIAN_BODY_LIMIT: '512kb', YUNBIAN_JSON_MAX_DEPTH: '20' }),
    ).toEqual({ port: 8080, host: '127.0.0.1', bodyLimit: '512kb', jsonMaxDepth: 20 });
  });

  it('names every bad variable at once', () => {
    expect(() => loadHttpConfig({ PORT: '70000', YUNBIAN_BODY_LIMIT: 'lots', YUNBIAN_JSON_MAX_DEPTH: '-1' })).toThrow(
      /PORT="70000" must be a port[\s\S]*YUNBIAN_JSON_MAX_DEPTH="-1" must be a positive integer[\s\S]*YUNBIAN_BODY_LIMIT="lots"/,
    );
  });
});
