import { configFilePath, DEFAULT_SERVER, parseConfigFile, resolveConfig } from './config';

describe('resolveConfig', () => {
  const file = { path: '/home/u/.config/yunbian/config.json', content: { server: 'http://file:1', key: 'file-key' } };
  const stackKey = { path: '/repo/.yunbian/admin-key', key: 'stack-key' };

  it('prefers flags, then the environment, then the file, then the local stack', () => {
    const env = { YUNBIAN_URL: 'http://env:2', YUNBIAN_API_KEY: 'env-key' };
    expect(resolveConfig({ flags: { server: 'http://flag:3/', key: 'flag-key' }, env, file, stackKey })).toEqual({
      server: 'http://flag:3',
      serverFrom: '--server',
      key: 'flag-key',
      keyFrom: '--key',
    });
    expect(resolveConfig({ flags: {}, env, file, stackKey })).toMatchObject({
      server: 'http://env:2',
      key: 'env-key',
      keyFrom: 'YUNBIAN_API_KEY',
    });
    expect(resolveConfig({ flags: {}, env: {}, file, stackKey })).toMatchObject({
      server: 'http://file:1',
      key: 'file-key',
      keyFrom: file.path,
    });
    expect(resolveConfig({ flags: {}, env: {}, stackKey })).toEqual({
      server: DEFAULT_SERVER,
      serverFrom: 'default',
      key: 'stack-key',
      keyFrom: stackKey.path,
    });
    expect(resolveConfig({ flags: {}, env: { YUNBIAN_API_KEY: '  ' } }).key).toBeUndefined();
  });

  it('refuses a server that is not an http(s) URL, naming where it came from', () => {
    expect(() => resolveConfig({ flags: {}, env: { YUNBIAN_URL: 'localhost:3000' } })).toThrow(
      /"localhost:3000" \(from YUNBIAN_URL\) must be an http/,
    );
    expect(() => resolveConfig({ flags: { server: 'not a url' }, env: {} })).toThrow(
      /"not a url" \(from --server\) is not a URL/,
    );
  });
});

describe('parseConfigFile', () => {
  it('accepts server and key, and says what is accepted otherwise', () => {
    expect(parseConfigFile('{"server":"http://x","key":"k"}', 'c.json')).toEqual({ server: 'http://x', key: 'k' });
    expect(() => parseConfigFile('{"url":"http://x"}', 'c.json')).toThrow(
      'c.json: unknown setting "url"; accepted are "server" and "key"',
    );
    expect(() => parseConfigFile('{"key":1}', 'c.json')).toThrow('c.json: "key" must be a string');
    expect(() => parseConfigFile('[', 'c.json')).toThrow(/c.json is not valid JSON/);
  });
});

describe('configFilePath', () => {
  it('takes YUNBIAN_CONFIG, else XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configFilePath({ YUNBIAN_CONFIG: '/etc/yb.json' })).toBe('/etc/yb.json');
    expect(configFilePath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/yunbian/config.json');
    expect(configFilePath({})).toMatch(/\.config\/yunbian\/config\.json$/);
  });
});
