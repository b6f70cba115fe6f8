// Runes mode everywhere: Svelte 4 syntax ($:, on:click, export let) fails to compile.
export default {
  compilerOptions: { runes: true },
};
