/** The status palette of the design system (see app.css). */
export type Tone = 'ok' | 'info' | 'neutral' | 'warn' | 'danger' | 'violet';
