// Provided at build time by the plugin in web/schema-introspection.ts, from schema.graphql.
declare module 'virtual:schema-introspection' {
  import type { IntrospectionQuery } from 'graphql';
  const introspection: IntrospectionQuery;
  export default introspection;
}
