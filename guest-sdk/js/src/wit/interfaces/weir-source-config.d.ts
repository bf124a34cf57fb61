declare module 'weir:source/config@0.1.1' {
  /**
   * The value for `key`, or none when it is not set.
   */
  export function get(key: string): string | undefined;
}
