/** One built file of the dashboard. */
export interface DashboardFile {
  readonly type: string;
  readonly body: Buffer;
  /** The gzip form, for clients that accept it; absent for already compressed formats. */
  readonly gzip: Buffer | undefined;
}

/** The folder the build writes to. */
export declare const dashboardDir: string;

/** Every built file by its URL path (`/`, `/assets/app.js`), or undefined when the dashboard is not built. */
export declare function loadDashboard(dir?: string): Map<string, DashboardFile> | undefined;
