//! Configuration: every setting is documented where a newcomer looks, and
//! settings that cannot work stop the start with the variable to fix.

use secrecy::SecretString;
use user_management::config::Config;
use user_management::startup::Application;

/// The environment variable of every setting, read from the command-line
/// definition (each setting is a flag with an `env`).
fn settings() -> Vec<String> {
    let command = user_management::cli::command();
    let names: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 30, "settings found: {names:?}");
    names
}

fn read(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows of the Markdown tables in `text`.
fn table_rows(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('|'))
        .collect()
}

#[test]
fn every_setting_is_in_env_example_and_both_settings_tables() {
    let example = read(".env.example");
    let readme = read("README.md");
    let deployment = read("docs/deployment.md");
    let mut missing = Vec::new();
    for name in settings() {
        let in_example = example.lines().any(|line| {
            let line = line.trim_start_matches('#').trim_start();
            line.starts_with(&format!("{name}="))
        });
        if !in_example {
            missing.push(format!("{name} in .env.example"));
        }
        for (file, text) in [("README.md", &readme), ("docs/deployment.md", &deployment)] {
            let quoted = format!("`{name}`");
            if !table_rows(text).iter().any(|row| row.contains(&quoted)) {
                missing.push(format!("{name} in the settings table of {file}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented settings: {missing:#?}");
}

fn s3_config(dir: &std::path::Path) -> Config {
    let mut config = Config::from_env().expect("config");
    config.database_url = format!("sqlite://{}/u.db", dir.display());
    config.data_dir = dir.to_owned();
    config.port = 0;
    config.storage_url = "s3://avatars".into();
    config.s3_endpoint = Some("http://127.0.0.1:9".into());
    config.s3_access_key_id = Some("key".into());
    config.s3_secret_access_key = Some(SecretString::from("secret".to_owned()));
    config
}

#[tokio::test]
async fn an_s3_bucket_without_its_settings_names_the_missing_variable() {
    let dir = tempfile::tempdir().expect("dir");
    type Unset = fn(&mut Config);
    let cases: [(&str, Unset); 3] = [
        ("S3_ENDPOINT", |c| c.s3_endpoint = None),
        ("S3_ACCESS_KEY_ID", |c| c.s3_access_key_id = None),
        ("S3_SECRET_ACCESS_KEY", |c| c.s3_secret_access_key = None),
    ];
    for (variable, unset) in cases {
        let mut config = s3_config(dir.path());
        unset(&mut config);
        let err = Application::build(config).await.err().expect("refused");
        let message = format!("{err:#}");
        assert!(message.starts_with(variable), "{variable}: {message}");
        assert!(
            !message.contains("169.254"),
            "no metadata address: {message}"
        );
    }
}

#[tokio::test]
async fn host_localhost_is_listened_on() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = Config::from_env().expect("config");
    config.database_url = format!("sqlite://{}/u.db", dir.path().display());
    config.storage_url = format!("file://{}/objects", dir.path().display());
    config.data_dir = dir.path().to_owned();
    config.host = "localhost".into();
    config.port = 0;
    let app = Application::build(config)
        .await
        .expect("HOST=localhost builds");
    assert_ne!(app.port(), 0);
    assert!(
        app.banner()
            .contains(&format!("public URL: http://localhost:{}", app.port()))
    );
}
