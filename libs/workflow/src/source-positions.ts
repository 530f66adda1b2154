import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/** A place in a definition's source text, 1-based. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** A YAML (or JSON) source that could not be parsed, and where. */
export interface SourceSyntaxError {
  message: string;
  position?: SourcePosition;
}

/**
 * The source text of a definition, parsed once so that JSON pointers into the value it
 * holds can be mapped back to lines (an error is shown where the user wrote the thing).
 * JSON is YAML, so one parser serves both.
 */
export class DefinitionSource {
  private readonly lines = new LineCounter();
  private readonly document;

  constructor(readonly text: string) {
    this.document = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: false });
  }

  /** Whether the parser ran out of stack: the text nests deeper than anything a definition needs. */
  get tooDeep(): boolean {
    return this.document.errors.some((e) => e.message.includes('Maximum call stack size exceeded'));
  }

  /** The first syntax error, if the text is no YAML/JSON document. */
  syntaxError(): SourceSyntaxError | undefined {
    const error = this.document.errors[0];
    if (!error) return undefined;
    return { message: error.message.split('\n')[0], position: this.at(error.pos[0]) };
  }

  /** The parsed value (undefined for an empty text). */
  value(): unknown {
    return this.document.toJS({ maxAliasCount: 100 });
  }

  /**
   * Where a JSON pointer (`/steps/1/service`) points in the text: the key of the deepest
   * member the pointer reaches (so a missing property is reported at the object that lacks
   * it), or the item of a list. Undefined when not even the first segment exists.
   */
  position(pointer: string): SourcePosition | undefined {
    const segments = pointer
      .split('/')
      .slice(1)
      .filter((s, i, all) => s !== '' || i < all.length - 1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node: unknown = this.document.contents;
    let offset: number | undefined = (node as Node | null)?.range?.[0];
    for (const segment of segments) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === segment);
        if (!pair) break;
        offset = (pair.key as Node).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node)) {
        const item = node.items[Number(segment)] as Node | undefined;
        if (!/^\d+$/.test(segment) || !item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else break;
    }
    return offset === undefined ? undefined : this.at(offset);
  }

  private at(offset: number): SourcePosition {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }
}

/** A validation problem, with its place in the source text when there is one. */
export interface LocatedIssue {
  pointer: string;
  message: string;
  line?: number;
  column?: number;
}

/** The issues of a definition, each with the line and column its pointer names in `source`. */
export function locateIssues(
  source: DefinitionSource | undefined,
  issues: readonly { pointer: string; message: string }[],
): LocatedIssue[] {
  return issues.map((issue) => ({ ...issue, ...source?.position(issue.pointer) }));
}
