/** Fetching a room token from the token service (LiveKit's standard token-endpoint shape). */

export interface RoomToken {
  serverUrl: string;
  participantToken: string;
}

export type TokenFailureKind =
  'rate-limited' | 'unavailable' | 'unknown-clinic' | 'unauthorized' | 'network' | 'rejected';

export class TokenError extends Error {
  constructor(
    readonly kind: TokenFailureKind,
    readonly status?: number,
    readonly retryAfterSeconds?: number,
  ) {
    super(`token request failed: ${kind}${status ? ` (HTTP ${status})` : ''}`);
    this.name = 'TokenError';
  }
}

/** `Retry-After` is either delay-seconds or an HTTP date; anything unreadable means "a bit". */
export function parseRetryAfter(header: string | null, now: number = Date.now()): number {
  const fallbackSeconds = 10;
  if (!header) return fallbackSeconds;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return Math.max(1, Math.ceil(seconds));
  const date = Date.parse(header);
  if (Number.isNaN(date)) return fallbackSeconds;
  return Math.max(1, Math.ceil((date - now) / 1000));
}

function classify(response: Response): TokenError {
  const { status } = response;
  if (status === 429) {
    return new TokenError(
      'rate-limited',
      status,
      parseRetryAfter(response.headers.get('Retry-After')),
    );
  }
  if (status === 404) return new TokenError('unknown-clinic', status);
  if (status === 401 || status === 403) return new TokenError('unauthorized', status);
  if (status >= 500) return new TokenError('unavailable', status);
  return new TokenError('rejected', status);
}

export async function fetchRoomToken(
  endpoint: string,
  clinicId: string | undefined,
  signal?: AbortSignal,
): Promise<RoomToken> {
  const body: Record<string, string> = {};
  if (clinicId) body.clinic_id = clinicId;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new TokenError('network');
  }
  if (!response.ok) throw classify(response);
  let payload: unknown;
  try {
    payload = await response.json();
  } catch {
    throw new TokenError('unavailable', response.status);
  }
  const { server_url: serverUrl, participant_token: participantToken } = (payload ?? {}) as Record<
    string,
    unknown
  >;
  if (typeof serverUrl !== 'string' || typeof participantToken !== 'string') {
    throw new TokenError('unavailable', response.status);
  }
  return { serverUrl, participantToken };
}
