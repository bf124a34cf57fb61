declare module 'weir:source/secrets@0.1.1' {
  /**
   * The secret for `key`, or none when it is not set.
   */
  export function get(key: string): string | undefined;
}
