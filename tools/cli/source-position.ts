import YAML, { isMap, isScalar, isSeq, LineCounter, type Node } from 'yaml';

/** Where a JSON pointer lands in a YAML or JSON text, 1-based like editors count. */
export interface SourcePosition {
  line: number;
  col: number;
  /** The pointer's deepest prefix that exists in the text (the whole pointer when it all exists). */
  found: string;
}

/** `/steps/0/id` → `['steps', '0', 'id']`, with RFC 6901 escapes (`~1` is `/`, `~0` is `~`) undone. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  const body = pointer.startsWith('/') ? pointer.slice(1) : pointer;
  return body.split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Locates a JSON pointer (as the server reports validation problems) in the text the user
 * wrote: the key of a mapping entry (`retry:` rather than its value, which may be lines
 * below), or the item of a sequence. A pointer to something missing (a required property)
 * lands on the deepest part that exists, which `found` names. JSON is YAML, so one parser
 * serves both kinds of file. Undefined when the text does not parse.
 */
export function locatePointer(text: string, pointer: string): SourcePosition | undefined {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, keepSourceTokens: false });
  if (doc.errors.length > 0 || !doc.contents) return undefined;
  let node: Node = doc.contents as Node;
  let offset = node.range?.[0] ?? 0;
  const found: string[] = [];
  for (const segment of pointerSegments(pointer)) {
    let next: { node: Node; offset: number } | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === segment);
      const key = pair?.key as Node | undefined;
      const value = pair?.value as Node | undefined;
      if (pair && (key?.range || value?.range))
        next = { node: value ?? key!, offset: key?.range?.[0] ?? value!.range![0] };
    } else if (isSeq(node) && /^\d+$/.test(segment)) {
      const item = node.items[Number(segment)] as Node | undefined;
      if (item?.range) next = { node: item, offset: item.range[0] };
    }
    if (!next) break;
    node = next.node;
    offset = next.offset;
    found.push(segment);
  }
  const { line, col } = lineCounter.linePos(offset);
  return {
    line,
    col,
    found: found.length ? '/' + found.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/') : '',
  };
}
