use super::*;
use crate::config::yaml;
use std::path::Path;

/// Decodes a `readonlyrest:` body; returns the settings and every error as `line:col: message`.
fn decode_text(text: &str) -> (AuditSettings, Vec<String>) {
    let root = yaml::parse(text).unwrap();
    let mut d = Diagnostics::new(Path::new("ror.yml"));
    let settings = decode(root.get("readonlyrest").unwrap(), &mut d);
    let errors = match d.finish(()) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .0
            .iter()
            .map(|e| format!("{}:{}: {}", e.line, e.col, e.message))
            .collect(),
    };
    (settings, errors)
}

fn ok(text: &str) -> AuditSettings {
    let (settings, errors) = decode_text(text);
    assert!(errors.is_empty(), "{errors:?}");
    settings
}

fn one_error(text: &str) -> String {
    let (_, errors) = decode_text(text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].clone()
}

#[test]
fn no_audit_keys_means_no_outputs_and_authorization_obfuscated() {
    let settings = ok("readonlyrest:\n  access_control_rules: []\n");
    assert_eq!(settings, AuditSettings::default());
    assert_eq!(settings.obfuscated_headers, ["authorization"]);
}

#[test]
fn enabled_without_outputs_is_one_default_index_output() {
    let settings = ok("readonlyrest:\n  audit:\n    enabled: true\n");
    assert_eq!(settings.outputs.len(), 1);
    let output = &settings.outputs[0];
    assert_eq!(output.name, "index");
    assert_eq!(output.serializer, Serializer::DEFAULT);
    let OutputKind::Index { template, cluster } = &output.kind else {
        panic!("{output:?}")
    };
    assert_eq!(cluster, &None);
    let at = std::time::SystemTime::UNIX_EPOCH;
    assert_eq!(template.index_name(at), "readonlyrest_audit-1970-01-01");
}

#[test]
fn disabled_audit_keeps_no_outputs() {
    let settings = ok("readonlyrest:\n  audit:\n    enabled: false\n    outputs: [{type: log}]\n");
    assert!(settings.outputs.is_empty());
}

#[test]
fn every_output_type_and_serializer_form() {
    let settings = ok(r#"
readonlyrest:
  obfuscated_headers: [X-Api-Key, Cookie]
  audit:
    enabled: true
    outputs:
    - type: log
      logger_name: audit_log
      serializer: {type: static, class_name: tech.beshu.ror.audit.instances.FullAuditLogSerializer}
    - type: file
      path: /var/log/ringfence/audit.jsonl
      serializer: full_with_query
    - type: index
      name: remote
      enabled: false
      index_template: "'audit-'yyyy.MM"
      cluster: ["http://writer:p%40ss@audit1:9201", "http://audit2"]
      serializer: {type: ecs, include_full_request_content: true}
    - type: data_stream
      serializer: tech.beshu.ror.audit.instances.QueryAuditLogSerializerV2
"#);
    assert_eq!(settings.obfuscated_headers, ["x-api-key", "cookie"]);
    let names: Vec<&str> = settings.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["log", "file", "remote", "data_stream"]);
    let [log, file, index, stream] = &settings.outputs[..] else {
        panic!()
    };
    assert_eq!(
        log.kind,
        OutputKind::Log {
            logger_name: Some("audit_log".into())
        }
    );
    assert_eq!(
        log.serializer,
        Serializer::Standard {
            allowed: AllowedEvents::All,
            include_content: false
        }
    );
    assert_eq!(
        file.kind,
        OutputKind::File {
            path: "/var/log/ringfence/audit.jsonl".into()
        }
    );
    assert!(file.serializer.includes_content());
    assert!(!index.enabled);
    assert_eq!(
        index.serializer,
        Serializer::Ecs {
            include_full_request_content: true
        }
    );
    let OutputKind::Index {
        template,
        cluster: Some(cluster),
    } = &index.kind
    else {
        panic!("{index:?}")
    };
    assert_eq!(
        template.index_name(std::time::SystemTime::UNIX_EPOCH),
        "audit-1970.01"
    );
    assert_eq!(cluster[0].url.authority(), "audit1:9201");
    assert_eq!(
        cluster[0].authorization,
        Some(BasicAuthorization::new("writer", "p@ss"))
    );
    assert_eq!(cluster[1].url.authority(), "audit2:9200");
    assert_eq!(cluster[1].authorization, None);
    assert_eq!(
        stream.kind,
        OutputKind::DataStream {
            name: DEFAULT_DATA_STREAM.into(),
            cluster: None
        }
    );
    assert_eq!(
        stream.serializer,
        Serializer::Standard {
            allowed: AllowedEvents::FromBlocksThatLogThem,
            include_content: true
        }
    );
}

#[test]
fn legacy_keys_make_one_index_output() {
    let settings = ok(r#"
readonlyrest:
  audit_collector: true
  audit_index_template: "'legacy-'yyyy"
  audit_serializer: tech.beshu.ror.requestcontext.QueryAuditLogSerializer
  audit_cluster: http://audit:9200
"#);
    let [output] = &settings.outputs[..] else {
        panic!("{settings:?}")
    };
    assert!(output.serializer.includes_content());
    let OutputKind::Index {
        template,
        cluster: Some(cluster),
    } = &output.kind
    else {
        panic!("{output:?}")
    };
    assert_eq!(
        template.index_name(std::time::SystemTime::UNIX_EPOCH),
        "legacy-1970"
    );
    assert_eq!(cluster.len(), 1);
}

#[test]
fn legacy_keys_without_collector_are_ignored_with_a_warning() {
    let root = yaml::parse("readonlyrest:\n  audit_index_template: \"'x-'yyyy\"\n").unwrap();
    let mut d = Diagnostics::new(Path::new("ror.yml"));
    let settings = decode(root.get("readonlyrest").unwrap(), &mut d);
    assert!(settings.outputs.is_empty());
    let warnings = d.take_warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("audit_collector"));
    assert!(d.is_empty());
}

#[test]
fn errors_name_line_column_and_key() {
    let mut mismatches = Vec::new();
    for (text, expected) in [
        (
            "readonlyrest:\n  audit:\n    enabled: true\n    output: []\n",
            "4:5: unknown key `output` in readonlyrest.audit",
        ),
        (
            "readonlyrest:\n  audit:\n    enabled: yes\n",
            "3:14: audit.enabled must be true or false",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - type: log\n      path: /x\n",
            "5:7: unknown key `path` in a `log` audit output (expected one of: type, name, enabled, serializer, logger_name)",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - type: syslog\n",
            "4:13: audit output type must be one of: log, file, index, data_stream",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - type: file\n",
            "4:13: a `file` audit output needs a `path`",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: index, index_template: \"'a-'yyyy-MMM\"}\n",
            "4:37: index template `'a-'yyyy-MMM`: `MMM` is not supported",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: index, cluster: [\"ftp://u:secret@h:9200\"]}\n",
            "4:31: audit cluster `ftp://***@h:9200` must start with http:// or https://",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: log, serializer: {type: static, class_name: com.acme.Mine}}\n",
            "4:58: class_name must be tech.beshu.ror.audit.instances.<X>",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: log, serializer: {type: configurable, fields: {}}}\n",
            "4:38: the `configurable` audit serializer is not supported",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: log, serializer: verbose}\n",
            "4:31: unknown audit serializer `verbose`",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: log}\n    - {type: log}\n",
            "5:7: audit output name `log` is used twice",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: log, name: default_acl_log}\n",
            "4:25: `default_acl_log` is reserved",
        ),
        (
            "readonlyrest:\n  audit:\n    outputs:\n    - {type: data_stream, data_stream: Audit}\n",
            "4:40: data_stream: `Audit` is not valid",
        ),
        (
            "readonlyrest:\n  audit: {enabled: true}\n  audit_collector: true\n",
            "3:3: readonlyrest.audit_collector is the legacy form of `audit:`",
        ),
        (
            "readonlyrest:\n  audit_collector: true\n  audit_serializer: Custom\n",
            "3:21: unknown audit serializer `Custom`",
        ),
    ] {
        let error = one_error(text);
        if !error.starts_with(expected) {
            mismatches.push(format!("{text}\n  got: {error}\n  want: {expected}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn cluster_credentials_never_appear_in_debug_or_errors() {
    let (settings, _) = decode_text(
        "readonlyrest:\n  audit_collector: true\n  audit_cluster: http://u:hunter2@h\n",
    );
    assert!(!format!("{settings:?}").contains("hunter2"));
    let error =
        one_error("readonlyrest:\n  audit_collector: true\n  audit_cluster: ftp://u:hunter2@h\n");
    assert!(!error.contains("hunter2"), "{error}");
}
