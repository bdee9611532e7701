#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/status/history.h"
#include "exporter/status/view.h"

/// The status page (`/`), its JSON twin (`/api/v1/status`), uptime badges
/// (`/badge/<probe>.svg`) and the logs page (`/logs?probe=NAME`): pure functions from a
/// status::StatusView to bytes. No I/O, no clock reads, no globals; thread safe.
///
/// Every string from the config or from targets (names, targets, failure details) is
/// escaped where it lands: HTML text and attributes, SVG `<title>`s, JSON strings. Invalid
/// UTF-8 becomes U+FFFD, and so do control characters in HTML (they are parse errors there).
///
/// The HTML documents are self-contained: one `<style>` element (StatusPageStyle()), no
/// scripts, no inline `style` attributes, no external resources, so they can be served with
/// the strict StatusPageContentSecurityPolicy(). They are also well-formed XML (every element
/// closed, only the five XML entities), which the tests check with xmllint. Links are
/// relative ("logs?probe=web", "api/v1/status"), so the pages work behind a path prefix.
/// HtmlEscape, which the renderers use, is declared in exporter/web/handlers.h.
///
/// `/api/v1/status` schema (RenderStatusJson), keys always present and in this order.
/// Ratios are 0..1 (not percent); numbers that are NaN or infinite in the view are `null`;
/// times are given twice, as an RFC 3339 UTC string with whole seconds ("2026-11-24T12:00:00Z",
/// `null` outside years 1970..9999) and as Unix seconds (a JSON number, may have a fraction).
///   version              string   nines's version
///   time, time_seconds   the instant the view was taken
///   started, started_seconds     when nines started
///   uptime_seconds       number   time_seconds - started_seconds
///   config               object
///     last_reload_successful  bool  false: the last reload failed, the previous config runs
///     last_reload, last_reload_seconds  the last successful (re)load
///   probes               array, config order; a probe removed by a reload is absent
///     name, kind, target string
///     state              "up" | "down" (the last run failed, not yet down_after times in a
///                        row) | "confirmed_down" (nines_probe_up 0) | "unknown"
///     uptime             object: window name ("1h", "24h", "7d", "30d", "90d") -> ratio|null
///     days               array, oldest first, from the first day with a run to today (UTC):
///       date             "YYYY-MM-DD"
///       runs, failures   integers
///       availability     ratio | null (no runs that day)
///       worst_reason     the most frequent failure reason | null (no failures)
///     latency            array, oldest first, 5-minute slots of the last 24 h with runs:
///       start, start_seconds  the slot's start
///       runs             integer
///       p50_seconds, p99_seconds  number
///     last_run, last_failure  run | null (last_failure survives later successes), where
///       run = {time, time_seconds, success (bool), reason (string | null on success),
///              detail (string), duration_seconds}
///     cert_expiry, cert_expiry_seconds  the leaf certificate's notAfter | null, null
///   slos                 array, config order
///     name, period       string ("30d")
///     objective          ratio (0.999)
///     sli                ratio over the period | null
///     error_budget_remaining  1 untouched, 0 spent, negative overspent | null
///     burn_rate_1h       number | null
///   nginx                array, config order
///     name               string
///     requests_per_second, error_ratio  over the last 5 minutes | null
namespace nines::web {

/// The refresh interval `?refresh=N` may ask for, inclusive.
inline constexpr int kMinRefreshSeconds = 5;
inline constexpr int kMaxRefreshSeconds = 3600;
/// The window a badge shows when `?window=` is absent (a suggestion for the handler).
inline constexpr std::string_view kDefaultBadgeWindow = "30d";

struct StatusPageOptions {
  /// Adds `<meta http-equiv="refresh" content="N">` when > 0. The handler takes it from
  /// `?refresh=N` (ParseRefreshSeconds); no refresh otherwise.
  int refresh_seconds = 0;
  /// Where the footer links the metrics (`--web.telemetry-path`).
  std::string telemetry_path = "/metrics";
};

/// `/`: the whole status page, an HTML5 document. Serve it with
/// `Content-Type: text/html; charset=utf-8` and StatusPageContentSecurityPolicy().
std::string RenderStatusPage(const status::StatusView& view, const StatusPageOptions& options = {});

/// `/logs?probe=NAME`: the last results and the last failures of `probe`, both newest first
/// (as ProbeHistory::RecentResults and RecentFailures return them), rendered in the order
/// given. Same stylesheet and CSP as the status page.
std::string RenderLogs(const status::ProbeView& probe, const std::vector<status::RunRecord>& recent,
                       const std::vector<status::RunRecord>& failures,
                       const StatusPageOptions& options = {});

/// `/api/v1/status`: the view as JSON (schema above), pretty-printed, ending in a newline.
/// Serve it as `application/json`.
std::string RenderStatusJson(const status::StatusView& view);

/// `/badge/<probe>.svg?window=30d`: a standalone SVG badge in shields.io's flat style, left
/// "uptime <window>" on grey, right the uptime (FormatPercent) coloured by threshold:
///   >= 99.9% #1a7f37 green, >= 99% #4d7a00 olive, >= 95% #9a6700 amber, below #cf222e red,
///   no data (NaN, or `window` not among probe.uptime) "no data" on #59636e grey.
/// White text on each is at least 4.5:1 (4.87:1 for amber, the lowest). Text widths are
/// Verdana 11px advance widths per character (BadgeTextWidth). The handler answers 400 for a
/// window that IsUptimeWindow rejects. Serve as `image/svg+xml`.
std::string RenderBadge(const status::ProbeView& probe, std::string_view window);

/// Whether `window` is one of the uptime window names: "1h", "24h", "7d", "30d", "90d".
bool IsUptimeWindow(std::string_view window);

/// The value of `?refresh=N` as seconds when it is a plain decimal integer within
/// [kMinRefreshSeconds, kMaxRefreshSeconds]; nullopt otherwise (the handler answers 400).
std::optional<int> ParseRefreshSeconds(std::string_view value);

/// The exact text of the pages' `<style>` element (what the CSP hash covers).
std::string StatusPageStyle();

/// `sha256-<base64>` of StatusPageStyle(), for CSP `style-src`.
std::string StatusPageStyleHash();

/// The Content-Security-Policy header value for the status and logs pages:
/// `default-src 'none'; style-src 'sha256-...'; img-src 'self'; base-uri 'none';
/// form-action 'none'; frame-ancestors 'none'`.
std::string StatusPageContentSecurityPolicy();

/// A ratio as a percentage with enough decimals to show its nines, truncated (never
/// rounded up to a nine it does not have, never "100%" below 1), trailing zeros dropped:
/// 1 -> "100%", 0.9995 -> "99.95%", 0.99999 -> "99.999%", 0.5 -> "50%", NaN -> "–".
/// Two decimals, four from 99.99%; negative ratios get a leading '-'.
std::string FormatPercent(double ratio);

/// A duration as its two largest units, zeros dropped: "42s", "5m 3s", "4h", "3d 4h";
/// "–" for NaN or negative.
std::string FormatDurationShort(double seconds);

/// A latency with sensible precision: "0.42 ms", "4.2 ms", "123 ms", "1.23 s", "12.3 s";
/// "–" for NaN or negative.
std::string FormatLatency(double seconds);

namespace internal {

/// `text` with every invalid UTF-8 sequence replaced by U+FFFD (one per maximal invalid
/// subpart); with `for_markup`, also C0 controls other than tab, LF and CR, DEL, C1
/// controls, U+FFFE and U+FFFF, which HTML and XML reject.
std::string SanitizeUtf8(std::string_view text, bool for_markup);

/// `text` as a JSON string literal, quotes included (RFC 8259; invalid UTF-8 -> U+FFFD,
/// U+2028 and U+2029 escaped too).
std::string JsonQuote(std::string_view text);

/// Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (fraction dropped); nullopt when not finite or
/// outside 1970..9999.
std::optional<std::string> Rfc3339(double unix_seconds);

/// The width in pixels of `text` in Verdana 11px, from Verdana's advance widths (units of
/// 1/2048 em) for printable ASCII; other bytes count as a digit's width. Approximate, as
/// shields.io's is: the badge also sets textLength so the text fits whatever font renders.
double BadgeTextWidth(std::string_view text);

}  // namespace internal

}  // namespace nines::web
