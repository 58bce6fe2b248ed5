/**
 * The live transcript of one call, rebuilt from the agent's `lk.transcription` text streams.
 *
 * LiveKit Agents 1.x sends each transcript segment (`lk.segment_id`) one of two ways: the
 * agent's own speech as ONE stream whose chunks are deltas, closed with
 * `lk.transcription_final: "true"`; the caller's speech as SEVERAL streams for the same
 * segment, each carrying the whole text so far (interim results), the last one final.
 * Treating "a new stream for a known segment replaces its text, chunks within a stream are
 * appended" handles both.
 */

export type Speaker = 'caller' | 'receptionist';

export interface Segment {
  readonly id: string;
  readonly speaker: Speaker;
  text: string;
  final: boolean;
}

export const TRANSCRIPTION_TOPIC = 'lk.transcription';
export const ATTR_SEGMENT_ID = 'lk.segment_id';
export const ATTR_TRANSCRIPTION_FINAL = 'lk.transcription_final';
export const ATTR_TRANSCRIBED_TRACK_ID = 'lk.transcribed_track_id';

export class Transcript {
  private readonly segments = new Map<string, Segment>();
  private readonly order: string[] = [];

  /** A stream for `id` began: its chunks replace whatever an earlier stream said. */
  beginStream(id: string, speaker: Speaker): Segment {
    let segment = this.segments.get(id);
    if (!segment) {
      segment = { id, speaker, text: '', final: false };
      this.segments.set(id, segment);
      this.order.push(id);
    } else {
      segment.text = '';
    }
    return segment;
  }

  append(id: string, chunk: string): Segment | undefined {
    const segment = this.segments.get(id);
    if (segment) segment.text += chunk;
    return segment;
  }

  finish(id: string, final: boolean): Segment | undefined {
    const segment = this.segments.get(id);
    if (segment) segment.final = segment.final || final;
    return segment;
  }

  all(): Segment[] {
    return this.order.map((id) => this.segments.get(id)).filter((s): s is Segment => !!s);
  }

  clear(): void {
    this.segments.clear();
    this.order.length = 0;
  }
}
