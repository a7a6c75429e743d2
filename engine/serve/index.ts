// engine/serve: `latent serve`, the engine as an OpenAI-compatible local HTTP server.
export { runServe, serveCommand } from './runServe';
export { DEFAULT_PORT, SERVE_OPTIONS, USAGE as SERVE_USAGE } from './serveOptions';
