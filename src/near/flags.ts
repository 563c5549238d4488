// Typed constant families. At run time a constant is a plain number, so `O.RDONLY | O.CLOEXEC`
// works in JavaScript; in TypeScript each family is its own branded type, so an `O` flag does not
// compile where a `SOCK` flag is expected. `|` yields a plain number, so a family combines its
// members with `of`, and takes a number it has no name for (nothing is forbidden) with `from`.

declare const familyBrand: unique symbol;

/** A constant of family `F` (`Flag<"O">` is an `O_*` value). */
export type Flag<F extends string> = number & { readonly [familyBrand]: F };

export interface FamilyMethods<F extends string> {
  /** The family's name, the C prefix without its underscore ("O"). */
  readonly familyName: F;
  /** Bitwise OR of members, as an unsigned 32-bit value (bit 31 stays positive). */
  of(...flags: Flag<F>[]): Flag<F>;
  /** Any number, taken as a member of this family: bits the kernel knows but we do not name. */
  from(value: number): Flag<F>;
  /** The names of the members whose bits are all set in `value` ("CREAT|EXCL"), for messages. */
  describe(value: number): string;
}

export type Family<F extends string, K extends Record<string, number>> = {
  readonly [k in keyof K]: Flag<F>;
} & FamilyMethods<F>;

/** Wraps generated values (`src/gen/constants.ts`) as the typed family `name`. */
export function family<F extends string, K extends Record<string, number>>(name: F, values: K): Family<F, K> {
  const methods: FamilyMethods<F> = {
    familyName: name,
    of: (...flags) => flags.reduce((acc, f) => (acc | f) >>> 0, 0) as Flag<F>,
    from: (value) => value as Flag<F>,
    describe(value) {
      const hits = Object.entries(values).filter(([, v]) => v !== 0 && (value & v) >>> 0 === v);
      return hits.length ? hits.map(([k]) => k).join("|") : String(value);
    },
  };
  return Object.freeze({ ...values, ...methods }) as unknown as Family<F, K>;
}
