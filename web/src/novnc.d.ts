// @novnc/novnc 1.5+ is ESM with `exports: ./core/rfb.js`; DefinitelyTyped's types still name the
// module after the old CommonJS path. Give the package's real entry those types.
/// <reference types="novnc__novnc" />
declare module '@novnc/novnc' {
  export { default } from '@novnc/novnc/lib/rfb';
}
