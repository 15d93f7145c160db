use crate::acl::block_audit::DEFAULT_ACL_LOG_SINK;
use crate::acl::{Acl, BlockAudit, BlockSinks};
use crate::config::{policy, yaml, Diagnostics};

/// The audit outputs the blocks below may name.
const OUTPUTS: &str = "  audit:\n    enabled: true\n    outputs: [{type: log, name: a}, {type: log, name: b}, {type: log, name: x}, {type: log, name: y}, {type: log, name: ok}, {type: log, name: log_sink}, {type: log, name: index_sink}]\n";

/// Compiles `access_control_rules` made of `blocks` (YAML list items, indented by four),
/// then the audit outputs in [`OUTPUTS`] (after the blocks: positions stay as written).
fn compile(blocks: &str) -> Result<Acl, Vec<String>> {
    let text = format!("readonlyrest:\n  access_control_rules:\n{blocks}{OUTPUTS}");
    let root = yaml::parse(&text).expect("yaml");
    let mut d = Diagnostics::new(std::path::Path::new("readonlyrest.yml"));
    let acl = policy::compile(root.get("readonlyrest").expect("readonlyrest:"), &mut d);
    d.finish(acl)
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

fn audit_of(block: &str) -> BlockAudit {
    let acl = compile(block).unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
    acl.block(0).expect("one block").audit.clone()
}

fn errors_of(block: &str) -> Vec<String> {
    match compile(block) {
        Ok(_) => panic!("compiled without errors:\n{block}"),
        Err(errors) => errors,
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[test]
fn no_key_and_verbosity_info_are_the_defaults() {
    let defaults = BlockAudit {
        enabled: true,
        log_allowed_events: true,
        sinks: BlockSinks::All,
    };
    assert_eq!(audit_of("    - name: a\n      methods: GET\n"), defaults);
    assert_eq!(
        audit_of("    - name: a\n      verbosity: info\n      methods: GET\n"),
        defaults
    );
}

#[test]
fn verbosity_error_stops_logging_allowed_events() {
    let audit = audit_of("    - name: a\n      verbosity: error\n      methods: GET\n");
    assert!(audit.enabled);
    assert!(!audit.log_allowed_events);
    assert_eq!(audit.sinks, BlockSinks::All);
}

#[test]
fn audit_flags_and_sink_lists() {
    let audit = audit_of(
        "    - name: a\n      audit:\n        enabled: false\n        log_allowed_events: false\n      methods: GET\n",
    );
    assert!(!audit.enabled);
    assert!(!audit.log_allowed_events);
    assert_eq!(audit.sinks, BlockSinks::All);

    let only = audit_of(
        "    - name: a\n      audit: {enabled_audit_sinks: [index_sink, default_acl_log]}\n      methods: GET\n",
    );
    assert!(only.enabled && only.log_allowed_events);
    assert_eq!(
        only.sinks,
        BlockSinks::Only(names(&["index_sink", DEFAULT_ACL_LOG_SINK]))
    );

    let except = audit_of(
        "    - name: a\n      audit:\n        disabled_audit_sinks: [log_sink]\n      methods: GET\n",
    );
    assert_eq!(except.sinks, BlockSinks::Except(names(&["log_sink"])));
}

#[test]
fn sink_references_name_block_and_sink_in_order() {
    let acl = compile(
        "    - name: first\n      audit: {enabled_audit_sinks: [a, b]}\n      methods: GET\n\
         \x20   - name: plain\n      methods: GET\n\
         \x20   - name: third\n      audit: {disabled_audit_sinks: [default_acl_log]}\n      methods: GET\n",
    )
    .unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
    let references: Vec<(&str, &str)> = acl.audit_sink_references().collect();
    assert_eq!(
        references,
        [
            ("first", "a"),
            ("first", "b"),
            ("third", DEFAULT_ACL_LOG_SINK)
        ]
    );
    assert_eq!(acl.block(1).map(|b| b.name.as_str()), Some("plain"));
    assert!(acl.block(3).is_none());
}

#[test]
fn verbosity_and_audit_together_is_an_error_at_the_second_key() {
    let errors = errors_of(
        "    - name: a\n      verbosity: error\n      audit: {enabled: true}\n      methods: GET\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "readonlyrest.yml:5:7: block `a`: `verbosity` and `audit` cannot be used together"
        ),
        "{errors:?}"
    );
    let errors = errors_of(
        "    - name: a\n      audit: {enabled: true}\n      verbosity: info\n      methods: GET\n",
    );
    assert!(
        errors[0].starts_with("readonlyrest.yml:5:7: block `a`: `verbosity` and `audit`"),
        "{errors:?}"
    );
}

#[test]
fn both_sink_lists_is_an_error() {
    let errors = errors_of(
        "    - name: a\n      audit:\n        enabled_audit_sinks: [x]\n        disabled_audit_sinks: [y]\n      methods: GET\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("readonlyrest.yml:6:9: block `a`: audit takes enabled_audit_sinks or disabled_audit_sinks, not both"),
        "{errors:?}"
    );
}

#[test]
fn unknown_audit_keys_are_errors() {
    let errors = errors_of(
        "    - name: a\n      audit:\n        enabled: true\n        sinks: [x]\n      methods: GET\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("readonlyrest.yml:6:9: unknown key `sinks`"),
        "{errors:?}"
    );
}

#[test]
fn malformed_values_are_errors() {
    let cases = [
        (
            "verbosity: debug",
            "4:18: block `a`: verbosity must be info or error",
        ),
        ("audit: true", "4:14: block `a`: audit must be a mapping"),
        (
            "audit: {enabled: maybe}",
            "4:24: block `a`: audit.enabled must be true or false",
        ),
        (
            "audit: {log_allowed_events: 1}",
            "4:35: block `a`: audit.log_allowed_events must be true or false",
        ),
        (
            "audit: {enabled_audit_sinks: []}",
            "4:36: block `a`: audit.enabled_audit_sinks must be a non-empty list",
        ),
        (
            "audit: {disabled_audit_sinks: log}",
            "4:37: block `a`: audit.disabled_audit_sinks must be a non-empty list",
        ),
        (
            "audit: {enabled_audit_sinks: [ok, [nested]]}",
            "4:41: block `a`: audit.enabled_audit_sinks must be a non-empty list",
        ),
    ];
    for (key, expected) in cases {
        let errors = errors_of(&format!("    - name: a\n      {key}\n      methods: GET\n"));
        assert_eq!(errors.len(), 1, "{key}: {errors:?}");
        assert!(
            errors[0].starts_with(&format!("readonlyrest.yml:{expected}")),
            "{key}: {errors:?}"
        );
    }
}

#[test]
fn a_sink_no_output_is_named_is_an_error_at_the_blocks_audit_key() {
    let errors = errors_of(
        "    - name: a\n      audit: {enabled_audit_sinks: [missing, a]}\n      methods: GET\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "readonlyrest.yml:4:14: block `a`: audit sink `missing` is not a configured audit output (known: a, b, x, y, ok, log_sink, index_sink, default_acl_log)"
        ),
        "{errors:?}"
    );
}
