/** esbuild's `text` loader turns an imported .css file into its source string. */
declare module '*.css' {
  const source: string;
  export default source;
}
