import { WINDOWS } from './format';

/** The time window of the overview, hotspots and usage pages: an index into {@link WINDOWS}. */
export function WindowSelect(props: { value: number; onChange: (index: number) => void }) {
  return (
    <label>
      Window{' '}
      <select
        value={props.value}
        onChange={(e) => props.onChange(Number((e.target as HTMLSelectElement).value))}
      >
        {WINDOWS.map((w, i) => (
          <option value={i}>{w.label}</option>
        ))}
      </select>
    </label>
  );
}
