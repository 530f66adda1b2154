/** The part of clipper-lib (Angus Johnson's Clipper 6.4, JavaScript port) that unclip uses; the package ships no types. */
declare module 'clipper-lib' {
  namespace ClipperLib {
    interface IntPoint {
      X: number;
      Y: number;
    }
    class ClipperOffset {
      constructor(miterLimit?: number, arcTolerance?: number);
      AddPath(path: IntPoint[], joinType: number, endType: number): void;
      Execute(solution: IntPoint[][], delta: number): void;
    }
    const JoinType: { jtSquare: number; jtRound: number; jtMiter: number };
    const EndType: { etClosedPolygon: number; etClosedLine: number; etOpenButt: number };
  }
  export = ClipperLib;
}
