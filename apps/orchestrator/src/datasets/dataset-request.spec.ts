import { parseUploadQuery, resolveDigits } from './dataset-request';

describe('registering digits parts', () => {
  it('names and places a part or a range of it, edge data edge-private by default', () => {
    expect(resolveDigits({ source: 'digits', part: 'heldOut', labelled: true })).toEqual({
      name: 'digits-heldOut',
      from: 8_000,
      to: 10_000,
      privacy: 'public',
    });
    expect(resolveDigits({ source: 'digits', part: 'edge', from: 100, to: 600, labelled: false })).toEqual({
      name: 'digits-edge-100-600-unlabelled',
      from: 6_100,
      to: 6_600,
      privacy: 'edge-private',
    });
  });

  it('refuses a range outside the part', () => {
    expect(resolveDigits({ source: 'digits', part: 'heldOut', from: 5, to: 2_001, labelled: true })).toEqual({
      problem: '/from and /to must select 0 ≤ from < to ≤ 2000 within the heldOut part (got from 5, to 2001)',
    });
  });
});

describe('raw dataset uploads', () => {
  it('reads name, tier, shape and labels from the query', () => {
    expect(parseUploadQuery({ name: 'cams', privacy: 'edge-private', shape: '3, 32,32', labelled: 'false' })).toEqual({
      name: 'cams',
      privacy: 'edge-private',
      shape: [3, 32, 32],
      labelled: false,
    });
  });

  it.each([
    [{ shape: '1' }, '?name= is missing'],
    [{ name: 'a.b', shape: '1' }, '?name= "a.b" is invalid'],
    [
      { name: 'a', privacy: 'secret', shape: '1' },
      '?privacy= must be one of public, edge-private, user-private (got "secret")',
    ],
    [{ name: 'a' }, '?shape= is missing'],
    [{ name: 'a', shape: '1,0' }, '?shape= must be 1-8 positive integers'],
    [{ name: 'a', shape: '1', labelled: 'yes' }, '?labelled= must be true or false (got "yes")'],
  ])('refuses %j', (query, message) => {
    const result = parseUploadQuery(query);
    expect('problem' in result && result.problem).toContain(message);
  });
});
