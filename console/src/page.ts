// What every page module exports.

import type { Identity } from './api';

export interface Page {
  /// The hash route (`#/query`) and the navigation label.
  path: string;
  title: string;
  /// Shown only to admin tokens.
  adminOnly?: boolean;
  /// Builds the page into `root`; returns what to run when the page is left (timers).
  mount(root: HTMLElement, who: Identity): (() => void) | void;
}

/// The databases a token may read, for database pickers.
export function readable(who: Identity): string[] {
  return who.read;
}
