import { isAudited } from './audit-requests';

describe('isAudited', () => {
  it('records every mutating call, refused or not, and no read', () => {
    expect(isAudited('POST', '/workflows', 201)).toBe(true);
    expect(isAudited('POST', '/workflows', 400)).toBe(true);
    expect(isAudited('DELETE', '/instances/:id', 202)).toBe(true);
    expect(isAudited('POST', undefined, 404)).toBe(true);
    expect(isAudited('GET', '/runs', 200)).toBe(false);
  });

  it('records a check that changes nothing only when it was refused', () => {
    expect(isAudited('POST', '/workflows/validate', 200)).toBe(false);
    expect(isAudited('POST', '/workflows/validate', 401)).toBe(true);
    expect(isAudited('POST', '/workflows/validate', 429)).toBe(true);
  });
});
