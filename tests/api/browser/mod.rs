//! The pages in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against the real service on SQLite and PostgreSQL with
//! its real SMTP sink. Each step waits for its page, saves a screenshot
//! under `ci-artifacts/screenshots/` in the target directory, and checks
//! the page: no policy violation or script error in the console, a title,
//! a language, every input labelled.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/services.sh`
//! installs them); without them the tests are skipped with a message,
//! except under `CI=true`, where they fail.

mod driver;
mod steps;

mod every_page;
mod guards;
mod journey;
mod links;
