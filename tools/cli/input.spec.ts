import { issueLines, issuesOf, parseGivenValue } from './input';

const files: Record<string, string> = {
  'in.json': '{\n  "image": "abc",\n  "readings": [\n    { "id": "t1", "celsius": "hot" }\n  ]\n}\n',
  'in.yaml': 'image: abc\nreadings:\n  - id: t1\n    celsius: 41\n',
  'broken.json': '{\n "a": 1\n "b": 2}',
};
const readFile = (file: string) => {
  if (!(file in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  return files[file];
};

describe('parseGivenValue', () => {
  it('reads @file as JSON or YAML, and inline text as JSON', () => {
    expect(parseGivenValue('@in.json', '--input', readFile)).toMatchObject({
      value: { image: 'abc', readings: [{ id: 't1', celsius: 'hot' }] },
      source: 'in.json',
      fromFile: true,
    });
    expect(parseGivenValue('@in.yaml', '--input', readFile).value).toEqual({
      image: 'abc',
      readings: [{ id: 't1', celsius: 41 }],
    });
    expect(parseGivenValue('{"a": [1]}', '--input', readFile)).toMatchObject({ value: { a: [1] }, fromFile: false });
  });

  it('says what is wrong and what is accepted', () => {
    expect(() => parseGivenValue('@missing.json', '--input', readFile)).toThrow(
      '--input @missing.json: cannot read missing.json (ENOENT)',
    );
    expect(() => parseGivenValue('@', '--config', readFile)).toThrow(
      /give a file after @ \(e\.g\. --config @input\.json\)/,
    );
    expect(() => parseGivenValue('{a: 1}', '--input', readFile)).toThrow(/--input: not JSON .*--input @file\.json/);
    // A JSON error names the line and column, not only JSON.parse's offset.
    expect(() => parseGivenValue('@broken.json', '--input', readFile)).toThrow(/^broken\.json:3:2: not valid JSON/);
  });
});

describe('issueLines', () => {
  it('prints each server issue at its line and column in the file', () => {
    const given = parseGivenValue('@in.json', '--input', readFile);
    const issues = issuesOf({
      issues: [
        { pointer: '/readings/0/celsius', message: 'must be number' },
        { pointer: '/readings/0/unit', message: 'is required' },
        { bogus: true },
      ],
    });
    expect(issueLines(issues, given)).toEqual([
      '  in.json:4:19  /readings/0/celsius: must be number',
      '  in.json:4:5  /readings/0/unit (nearest: /readings/0): is required',
    ]);
  });

  it('gives the column for inline text, and the bare pointer when the text does not parse as YAML', () => {
    const inline = parseGivenValue('{"a": {"b": 1}}', '--input', readFile);
    expect(issueLines([{ pointer: '/a/b', message: 'must be string' }], inline)).toEqual([
      '  col 8  /a/b: must be string',
    ]);
    expect(issueLines([{ pointer: '/x', message: 'm' }], { text: '[', source: 's', fromFile: true })).toEqual([
      '  /x: m',
    ]);
    expect(issuesOf(undefined)).toEqual([]);
  });
});
