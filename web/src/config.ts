/**
 * Call widget configuration. It comes from the HTML that hosts the widget (data attributes,
 * written by the site owner) and, for the clinic only, from the page's query string.
 *
 * The token endpoint is deliberately never read from the query string: a crafted link could
 * otherwise make a clinic-branded page send the caller's microphone to someone else's server.
 */
export interface CallConfig {
  /** URL of the token service's `POST /v1/token` (absolute, or relative to the page). */
  tokenEndpoint: string;
  /** Clinic to call; omitted lets the token service use its default clinic. */
  clinicId?: string;
  /** Shown in the header and used in messages. */
  clinicName: string;
  /** Offered as a fallback when calls cannot go through, e.g. "+1 555 0100". */
  clinicPhone?: string;
  /** How long to wait for the receptionist to join before giving up. */
  agentJoinTimeoutSeconds: number;
}

export const DEFAULT_CONFIG: CallConfig = {
  // Relative, so a page served under a path prefix (/calls/) asks its own service.
  tokenEndpoint: 'v1/token',
  clinicName: 'Bright Smile Dental',
  agentJoinTimeoutSeconds: 20,
};

/** The token service's clinic id charset: lowercase letters, digits and '-'. */
const CLINIC_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

function cleanClinicId(value: string | null | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed && CLINIC_ID_PATTERN.test(trimmed) ? trimmed : undefined;
}

function positiveNumber(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
}

/**
 * Reads `data-token-endpoint`, `data-clinic-id`, `data-clinic-name`, `data-clinic-phone` and
 * `data-agent-timeout` (seconds) from `dataset`; `?clinic_id=` in `search` wins over
 * `data-clinic-id` so one page can serve several clinics.
 */
export function readConfig(
  dataset: DOMStringMap,
  search: string,
  base: Partial<CallConfig> = {},
): CallConfig {
  const merged: CallConfig = { ...DEFAULT_CONFIG, ...base };
  const query = new URLSearchParams(search);
  const clinicId = cleanClinicId(query.get('clinic_id')) ?? cleanClinicId(dataset.clinicId);
  const clinicPhone = dataset.clinicPhone?.trim() || merged.clinicPhone;
  return {
    tokenEndpoint: dataset.tokenEndpoint?.trim() || merged.tokenEndpoint,
    clinicId: clinicId ?? merged.clinicId,
    clinicName: dataset.clinicName?.trim() || merged.clinicName,
    clinicPhone: clinicPhone || undefined,
    agentJoinTimeoutSeconds: positiveNumber(dataset.agentTimeout, merged.agentJoinTimeoutSeconds),
  };
}
