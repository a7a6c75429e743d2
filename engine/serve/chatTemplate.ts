// Chat messages -> prompt text, through the Jinja chat template of the model's tokenizer_config.json, as
// Hugging Face's apply_chat_template renders it (the rendered text already holds bos and the role markers).
import type { Template } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import { HttpError } from './httpError';
import type { ChatMessage } from './requestValidation';

export interface ChatTemplateTokens {
  bosToken?: string;
  eosToken?: string;
}

export class ChatTemplate {
  private readonly template: Template;

  private constructor(template: Template, private readonly tokens: ChatTemplateTokens) {
    this.template = template;
  }

  /** Throws when the template does not parse, so that a broken model folder fails at start, not per request. */
  static async parse(source: string, tokens: ChatTemplateTokens): Promise<ChatTemplate> {
    // @huggingface/jinja is an ES module; this CommonJS build reaches it through import().
    const { Template } = await import('@huggingface/jinja');
    return new ChatTemplate(new Template(source), tokens);
  }

  render(messages: ChatMessage[]): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: true,
        bos_token: this.tokens.bosToken ?? '',
        eos_token: this.tokens.eosToken ?? '',
      });
    } catch (e) {
      // Templates reject conversations they cannot express (e.g. roles that do not alternate): the client's fault.
      throw new HttpError(400, `The model's chat template rejected these messages: ${(e as Error).message}`,
        'invalid_request_error', 'messages', 'chat_template_error');
    }
  }
}

export function chatTemplateMissing(modelDir: string): HttpError {
  return new HttpError(400, `The model in ${modelDir} has no chat_template in its tokenizer_config.json, so it ` +
    'cannot serve /v1/chat/completions; use /v1/completions', 'invalid_request_error', 'messages',
  'chat_template_missing');
}
