//! Table tests for `classify`: client requests, routing precedence, tricky encodings, the whole
//! generated table, and "never panics" over prefixes and mutations.
//!
//! The tables are text, one case a line, so that they stay readable and rustfmt leaves them be.

use super::*;

const G: Method = Method::Get;
const H: Method = Method::Head;
const P: Method = Method::Post;
const U: Method = Method::Put;
const D: Method = Method::Delete;

fn ok(method: Method, target: &str) -> Classified<'_> {
    match classify(method, target) {
        Ok(c) => c,
        Err(e) => panic!("{} {target}: {e:?}", method.as_str()),
    }
}

fn indices<'a>(c: &'a Classified<'_>) -> Vec<&'a str> {
    c.indices().collect()
}

/// Case lines of a text table: blank lines and `#` comments skipped, fields split on spaces.
fn cases(table: &str) -> impl Iterator<Item = Vec<&str>> {
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(' ').filter(|f| !f.is_empty()).collect())
}

fn method(token: &str) -> Method {
    Method::from_bytes(token.as_bytes()).unwrap_or_else(|| panic!("bad method {token}"))
}

/// `METHOD target api action indices` (indices comma-joined, `-` for none).
const CLIENT_REQUESTS: &str = "
    # curl users and the common data path
    POST /logs-2024.01.01/_search search indices:data/read/search logs-2024.01.01
    GET /_search search indices:data/read/search -
    GET /logs/_search?q=user:kimchy&size=0 search indices:data/read/search logs
    GET /logs/_count count indices:data/read/search logs
    POST /_count count indices:data/read/search -
    GET /_msearch msearch indices:data/read/msearch -
    POST /logs/_msearch msearch indices:data/read/msearch logs
    POST /_search/scroll scroll indices:data/read/scroll -
    GET /_search/scroll/DXF1ZXJ5QW5kRmV0Y2gBAAAAAAAAAD4WYm9laVYtZndUQlNsdDcwakFMNjU1QQ== scroll indices:data/read/scroll -
    DELETE /_search/scroll clear_scroll indices:data/read/scroll/clear -
    POST /logs/_pit?keep_alive=1m open_point_in_time indices:data/read/open_point_in_time logs
    DELETE /_pit close_point_in_time indices:data/read/close_point_in_time -
    GET /logs/_search/template search_template indices:data/read/search/template logs
    POST /_msearch/template msearch_template indices:data/read/msearch/template -
    GET /logs-*/_field_caps?fields=* field_caps indices:data/read/field_caps logs-*
    GET /logs/_doc/1 get indices:data/read/get logs
    HEAD /logs/_doc/1 exists indices:data/read/get logs
    GET /logs/_source/1 get_source indices:data/read/get logs
    HEAD /logs/_source/1 exists_source indices:data/read/get logs
    POST /_mget mget indices:data/read/mget -
    GET /logs/_mget mget indices:data/read/mget logs
    GET /logs/_explain/1 explain indices:data/read/explain logs
    GET /logs/_termvectors/1 termvectors indices:data/read/tv logs
    POST /_mtermvectors mtermvectors indices:data/read/mtv -
    PUT /logs/_doc/1 index indices:data/write/index logs
    POST /logs/_doc/1 index indices:data/write/index logs
    POST /logs/_doc index indices:data/write/index logs
    PUT /logs/_create/1 create indices:data/write/index logs
    POST /logs/_create/1 create indices:data/write/index logs
    DELETE /logs/_doc/1 delete indices:data/write/delete logs
    POST /logs/_update/1 update indices:data/write/update logs
    POST /_bulk bulk indices:data/write/bulk -
    PUT /_bulk bulk indices:data/write/bulk -
    POST /logs/_bulk?refresh=wait_for bulk indices:data/write/bulk logs
    PUT /logs/_bulk bulk indices:data/write/bulk logs
    POST /logs/_delete_by_query delete_by_query indices:data/write/delete/byquery logs
    POST /logs/_update_by_query?conflicts=proceed update_by_query indices:data/write/update/byquery logs
    POST /_reindex?wait_for_completion=false reindex indices:data/write/reindex -
    # index administration
    PUT /logs indices.create indices:admin/create logs
    DELETE /logs indices.delete indices:admin/delete logs
    GET /logs indices.get indices:admin/get logs
    HEAD /logs indices.exists indices:admin/get logs
    GET /logs/_mapping indices.get_mapping indices:admin/mappings/get logs
    PUT /logs/_mapping indices.put_mapping indices:admin/mapping/put logs
    GET /logs/_mapping/field/message indices.get_field_mapping indices:admin/mappings/fields/get logs
    GET /logs/_settings indices.get_settings indices:monitor/settings/get logs
    GET /logs/_settings/index.number_of_replicas indices.get_settings indices:monitor/settings/get logs
    PUT /logs/_settings indices.put_settings indices:admin/settings/update logs
    POST /_aliases indices.update_aliases indices:admin/aliases -
    PUT /logs/_alias/current indices.put_alias indices:admin/aliases logs,current
    DELETE /logs/_alias/current indices.delete_alias indices:admin/aliases logs,current
    GET /_alias indices.get_alias indices:admin/aliases/get -
    GET /_alias/.kibana indices.get_alias indices:admin/aliases/get .kibana
    HEAD /_alias/logstash indices.exists_alias indices:admin/aliases/get logstash
    GET /_template/logstash indices.get_template indices:admin/template/get -
    PUT /_template/logstash indices.put_template indices:admin/template/put -
    DELETE /_template/logstash indices.delete_template indices:admin/template/delete -
    HEAD /_template/logstash indices.exists_template indices:admin/template/get -
    HEAD /_index_template/logstash indices.exists_index_template indices:admin/index_template/get -
    PUT /_index_template/filebeat-8.12.0 indices.put_index_template indices:admin/index_template/put -
    GET /_index_template indices.get_index_template indices:admin/index_template/get -
    DELETE /_index_template/t indices.delete_index_template indices:admin/index_template/delete -
    POST /_index_template/_simulate_index/logs-x indices.simulate_index_template indices:admin/index_template/simulate_index logs-x
    POST /_index_template/_simulate/t indices.simulate_template indices:admin/index_template/simulate -
    PUT /_component_template/c cluster.put_component_template cluster:admin/component_template/put -
    GET /_component_template cluster.get_component_template cluster:admin/component_template/get -
    POST /logs/_refresh indices.refresh indices:admin/refresh logs
    POST /_refresh indices.refresh indices:admin/refresh -
    POST /logs/_flush indices.flush indices:admin/flush logs
    POST /logs/_forcemerge?max_num_segments=1 indices.forcemerge indices:admin/forcemerge logs
    POST /logs/_open indices.open indices:admin/open logs
    POST /logs/_close indices.close indices:admin/close logs
    POST /logs-alias/_rollover indices.rollover indices:admin/rollover logs-alias
    POST /logs-alias/_rollover/logs-000002 indices.rollover indices:admin/rollover logs-alias,logs-000002
    POST /logs/_shrink/small indices.shrink indices:admin/resize logs,small
    PUT /logs/_split/big indices.split indices:admin/resize logs,big
    POST /logs/_clone/copy indices.clone indices:admin/resize logs,copy
    GET /logs/_stats indices.stats indices:monitor/stats logs
    GET /_stats/docs indices.stats indices:monitor/stats -
    GET /logs/_segments indices.segments indices:monitor/segments logs
    GET /logs/_recovery indices.recovery indices:monitor/recovery logs
    POST /logs/_validate/query indices.validate_query indices:admin/validate/query logs
    POST /_analyze indices.analyze indices:admin/analyze -
    GET /logs/_analyze indices.analyze indices:admin/analyze logs
    GET /_resolve/index/* indices.resolve_index indices:admin/resolve/index *
    PUT /_data_stream/logs-app-default indices.create_data_stream indices:admin/data_stream/create -
    GET /_data_stream/logs-* indices.get_data_stream indices:admin/data_stream/get -
    DELETE /_data_stream/logs-app indices.delete_data_stream indices:admin/data_stream/delete -
    # cluster
    GET / info cluster:monitor/main -
    HEAD / ping cluster:monitor/main -
    GET /_cluster/health cluster.health cluster:monitor/health -
    GET /_cluster/health/.kibana?wait_for_status=yellow cluster.health cluster:monitor/health .kibana
    GET /_cluster/state cluster.state cluster:monitor/state -
    GET /_cluster/state/metadata/logs cluster.state cluster:monitor/state logs
    GET /_cluster/stats cluster.stats cluster:monitor/stats -
    GET /_cluster/settings cluster.get_settings cluster:monitor/settings -
    PUT /_cluster/settings cluster.put_settings cluster:admin/settings/update -
    POST /_cluster/reroute cluster.reroute cluster:admin/reroute -
    GET /_cluster/allocation/explain cluster.allocation_explain cluster:monitor/allocation/explain -
    GET /_cluster/pending_tasks cluster.pending_tasks cluster:monitor/task -
    GET /_remote/info cluster.remote_info cluster:monitor/remote/info -
    GET /_nodes nodes.info cluster:monitor/nodes/info -
    GET /_nodes/http nodes.info cluster:monitor/nodes/info -
    GET /_nodes/_local/http nodes.info cluster:monitor/nodes/info -
    GET /_nodes/stats nodes.stats cluster:monitor/nodes/stats -
    GET /_nodes/_local/stats nodes.stats cluster:monitor/nodes/stats -
    GET /_nodes/stats/jvm nodes.stats cluster:monitor/nodes/stats -
    GET /_nodes/hot_threads nodes.hot_threads cluster:monitor/nodes/hot_threads -
    GET /_nodes/usage nodes.usage cluster:monitor/nodes/usage -
    GET /_tasks tasks.list cluster:monitor/tasks/lists -
    GET /_tasks/oTUltX4IQMOUUVeiohTt8A:12345 tasks.get cluster:monitor/task/get -
    POST /_tasks/oTUltX4IQMOUUVeiohTt8A:12345/_cancel tasks.cancel cluster:admin/tasks/cancel -
    PUT /_snapshot/backups snapshot.create_repository cluster:admin/repository/put -
    GET /_snapshot snapshot.get_repository cluster:admin/repository/get -
    DELETE /_snapshot/backups snapshot.delete_repository cluster:admin/repository/delete -
    POST /_snapshot/backups/_verify snapshot.verify_repository cluster:admin/repository/verify -
    POST /_snapshot/backups/_cleanup snapshot.cleanup_repository cluster:admin/repository/_cleanup -
    PUT /_snapshot/backups/snap-1 snapshot.create cluster:admin/snapshot/create -
    GET /_snapshot/backups/snap-* snapshot.get cluster:admin/snapshot/get -
    DELETE /_snapshot/backups/snap-1 snapshot.delete cluster:admin/snapshot/delete -
    POST /_snapshot/backups/snap-1/_restore snapshot.restore cluster:admin/snapshot/restore -
    GET /_snapshot/backups/snap-1/_status snapshot.status cluster:admin/snapshot/status -
    GET /_snapshot/_status snapshot.status cluster:admin/snapshot/status -
    PUT /_ingest/pipeline/p ingest.put_pipeline cluster:admin/ingest/pipeline/put -
    GET /_ingest/pipeline ingest.get_pipeline cluster:admin/ingest/pipeline/get -
    POST /_ingest/pipeline/_simulate ingest.simulate cluster:admin/ingest/pipeline/simulate -
    POST /_ingest/pipeline/p/_simulate ingest.simulate cluster:admin/ingest/pipeline/simulate -
    DELETE /_ingest/pipeline/p ingest.delete_pipeline cluster:admin/ingest/pipeline/delete -
    PUT /_scripts/s put_script cluster:admin/script/put -
    GET /_scripts/s get_script cluster:admin/script/get -
    DELETE /_scripts/s delete_script cluster:admin/script/delete -
    GET /_ilm/policy/logs ilm.get_lifecycle cluster:admin/ilm/get -
    PUT /_ilm/policy/logs ilm.put_lifecycle cluster:admin/ilm/put -
    GET /_xpack xpack.info cluster:monitor/xpack/info -
    GET /_xpack/usage xpack.usage cluster:monitor/xpack/usage -
    GET /_license license.get cluster:monitor/xpack/license/get -
    GET /_security/_authenticate security.authenticate cluster:admin/xpack/security/user/authenticate -
    POST /_security/user/_has_privileges security.has_privileges cluster:admin/xpack/security/user/has_privileges -
    POST /_monitoring/bulk?system_id=logstash monitoring.bulk cluster:admin/xpack/monitoring/bulk -
    POST /logs/_async_search async_search.submit indices:data/read/async_search/submit logs
    GET /_async_search/FmRldE8zREVEUzA2ZVpUeGs2ejJFUFEaMkZ5QTVrSTZSaVN3WlNFVmtlWHJsdzoxMDc= async_search.get indices:data/read/async_search/get -
    DELETE /_async_search/abc async_search.delete indices:data/read/async_search/delete -
    POST /_sql?format=txt sql.query indices:data/read/sql -
    POST /logs/_eql/search eql.search indices:data/read/eql logs
    POST /_query esql.query indices:data/read/esql -
    # _cat (first action)
    GET /_cat cat.help cat_action -
    GET /_cat/ cat.help cat_action -
    GET /_cat/indices?v cat.indices indices:monitor/settings/get -
    GET /_cat/indices/logs-* cat.indices indices:monitor/settings/get logs-*
    GET /_cat/health cat.health cluster:monitor/health -
    GET /_cat/count/logs cat.count indices:data/read/search logs
    GET /_cat/aliases cat.aliases indices:admin/aliases/get -
    GET /_cat/nodes?h=ip,name cat.nodes cluster:monitor/state -
    GET /_cat/master cat.master cluster:monitor/state -
    GET /_cat/shards/logs cat.shards cluster:monitor/state logs
    GET /_cat/templates/filebeat-* cat.templates indices:admin/template/get -
    GET /_cat/snapshots/backups cat.snapshots cluster:admin/snapshot/get -
    GET /_cat/repositories cat.repositories cluster:admin/repository/get -
    GET /_cat/recovery cat.recovery indices:monitor/recovery -
    GET /_cat/tasks cat.tasks cluster:monitor/tasks/lists -
    GET /_cat/pending_tasks cat.pending_tasks cluster:monitor/task -
    GET /_cat/fielddata cat.fielddata cluster:monitor/nodes/stats -
    # Logstash bootstraps its rollover index with date math in the path
    PUT /%3Clogstash-%7Bnow%2Fd%7D-000001%3E indices.create indices:admin/create <logstash-{now/d}-000001>
    # ReadonlyREST's own endpoints (readonlyrest.md section 4.1)
    GET /_readonlyrest/metadata/user readonlyrest.user_metadata cluster:internal_ror/user_metadata/get -
    GET /_readonlyrest/metadata/current_user readonlyrest.user_metadata cluster:internal_ror/user_metadata/get -
    POST /_readonlyrest/admin/refreshconfig readonlyrest.refresh_config cluster:internal_ror/config/refreshsettings -
    GET /_readonlyrest/admin/config readonlyrest.config cluster:internal_ror/config/manage -
    POST /_readonlyrest/admin/config readonlyrest.config cluster:internal_ror/config/manage -
    GET /_readonlyrest/admin/config/file readonlyrest.config cluster:internal_ror/config/manage -
    POST /_readonlyrest/admin/config/test readonlyrest.test_config cluster:internal_ror/testconfig/manage -
    DELETE /_readonlyrest/admin/config/test readonlyrest.test_config cluster:internal_ror/testconfig/manage -
    POST /_readonlyrest/admin/config/test/authmock readonlyrest.auth_mock cluster:internal_ror/authmock/manage -
    POST /_readonlyrest/admin/audit/event readonlyrest.audit_event cluster:internal_ror/audit_event/put -
    # OpenSearch 2.x additions
    GET /_cat/cluster_manager cat.cluster_manager cluster:monitor/state -
    POST /logs/_search/point_in_time?keep_alive=1m opensearch.create_pit indices:data/read/point_in_time/create logs
    DELETE /_search/point_in_time opensearch.delete_pit indices:data/read/point_in_time/delete -
    DELETE /_search/point_in_time/_all opensearch.delete_pit indices:data/read/point_in_time/delete -
    GET /_search/point_in_time/_all opensearch.get_all_pits indices:data/read/point_in_time/readall -
    PUT /_search/pipeline/p opensearch.put_search_pipeline cluster:admin/search/pipeline/put -
";

#[test]
fn client_requests() {
    let mut n = 0;
    for f in cases(CLIENT_REQUESTS) {
        let [m, target, api, action, want] = f[..] else {
            panic!("bad line {f:?}")
        };
        let c = ok(method(m), target);
        assert_eq!((c.api, c.action), (api, action), "{m} {target}");
        let want: Vec<&str> = if want == "-" {
            vec![]
        } else {
            want.split(',').collect()
        };
        assert_eq!(indices(&c), want, "{m} {target}");
        assert!(!c.is_legacy() && !c.is_unknown(), "{m} {target}");
        n += 1;
    }
    assert!(n > 150);
}

#[test]
fn unknown_requests_classify_but_fail_closed() {
    let table = "
        GET /_plugins/_security/api/roles
        GET /_opendistro/_security/authinfo
        GET /_plugins/_security/health
        PUT /_plugins/_ism/x
        POST /_plugins/_sql
        POST /_plugins/_ppl
        POST /_plugins/_ism/add/logs
        POST /logs/_x/1
        POST /logs/_scale
        OPTIONS /logs/_search
        PATCH /logs/_doc/1
        POST /logs
        HEAD /logs/_search
        GET /_nonexistent_api/x/y/z/a/b/c/d/e/f/g/h/i/j/k
        GET /favicon.ico/x
        GET /_readonlyrest/admin/unknown/x
    ";
    for f in cases(table) {
        let c = ok(method(f[0]), f[1]);
        assert!(c.is_unknown(), "{f:?} -> {}", c.api);
        assert_eq!((c.api, c.action), (UNKNOWN_API, UNKNOWN_ACTION), "{f:?}");
        assert!(c.parts.is_empty(), "{f:?}");
    }
    // A known API without a known action keeps its name but fails closed too.
    let c = ok(G, "/_streams/status");
    assert_eq!((c.api, c.is_unknown()), ("streams.status", true));
}

#[test]
fn literal_beats_param() {
    // `_search` is a literal at the root; `{index}` only takes what no literal matches.
    assert_eq!(ok(G, "/_search").api, "search");
    assert_eq!(ok(G, "/logs").api, "indices.get");
    assert_eq!(ok(G, "/_all/_search").api, "search");
    assert_eq!(indices(&ok(G, "/_all/_search")), ["_all"]);
    assert_eq!(ok(G, "/_all").api, "indices.get");
    // `/_search/scroll` is the scroll API, `/{index}/_search` never sees index `_search`.
    assert_eq!(ok(G, "/_search/scroll").api, "scroll");
    assert_eq!(ok(G, "/_search/template").api, "search_template");
    // `_alias` is a literal (`/_alias/{name}`), so `/_alias/_search` would be alias `_search` if
    // the literal branch ended there; it does not (no handler at `/_alias/{name}/_search`), and
    // ES backtracks to `/{index}/_search` with index `_alias`. No index starts with `_`, so the
    // request cannot be what it seems: unknown.
    assert!(ok(G, "/_alias/_search").is_unknown());
    // A segment that only *decodes* to a literal is a parameter (ES matches raw tokens): index
    // `_search` of `GET /{index}`, again a name no index has.
    assert!(ok(G, "/%5Fsearch").is_unknown());
    assert!(ok(G, "/_cat/%69ndices").is_unknown());
    // `_cat` has a handler, so `/_cat` is cat.help; `/_cat/count` a literal under it.
    assert_eq!(ok(G, "/_cat/count").api, "cat.count");
    // `/_ingest/pipeline/_simulate`: literal `pipeline` beats `/_ingest/{index}/_simulate`.
    assert_eq!(ok(P, "/_ingest/pipeline/_simulate").api, "ingest.simulate");
    let c = ok(P, "/_ingest/logs/_simulate");
    assert_eq!((c.api, indices(&c)), ("simulate.ingest", vec!["logs"]));
    // A raw `*` segment selects the `{param}` child even among literals (ES stores it under `*`).
    let c = ok(G, "/*/_search");
    assert_eq!((c.api, indices(&c)), ("search", vec!["*"]));
    // `/_snapshot/{repository}/_status` beats `/_snapshot/{repository}/{snapshot}` for GET.
    assert_eq!(ok(G, "/_snapshot/r/_status").api, "snapshot.status");
    let c = ok(G, "/_snapshot/r/s");
    assert_eq!(c.parts.get("snapshot").map(|p| p.value.as_ref()), Some("s"));
    assert_eq!(
        c.parts.get("repository").map(|p| p.role),
        Some(Role::Repository)
    );
    // `/{index}/_doc/{id}` with the id `_count` is a document, not the count API (8.x) ...
    // unless the server also has the 7.x typed routes: see `legacy_typed_routes`.
    assert_eq!(ok(G, "/logs/_doc/count").api, "get");
}

/// `METHOD target => api indices` or `METHOD target => !ErrorVariant`.
const TRICKY: &str = r"
    # percent-encoding is undone per segment, after the split on '/'
    GET /%6cogs/_search => search logs
    GET /%6Cogs/_search => search logs
    GET /caf%C3%A9/_search => search café
    GET /logs%2A/_search => search logs*
    GET /logs+x/_search => search logs+x
    GET /logs%%/_search => search logs%
    GET /logs%2Fsecret/_search => !SlashInName
    GET /logs%2F..%2Fsecret/_search => !SlashInName
    GET /logs%/_search => !BadPercentEncoding
    GET /logs%2/_search => !BadPercentEncoding
    GET /logs%zz/_search => !BadPercentEncoding
    GET /logs%00/_search => !ControlCharacter
    GET /logs%0d%0aX:1/_search => !ControlCharacter
    GET /logs%ff/_search => !InvalidUtf8
    GET /logs%C0%AF/_search => !InvalidUtf8
    # dot and empty segments
    GET /./_search => !DotSegment
    GET /../secret => !DotSegment
    GET /logs/../secret/_search => !DotSegment
    GET /%2e%2e/secret => !DotSegment
    GET /%2e%2E/secret => !DotSegment
    GET /.%2e/secret => !DotSegment
    GET /%2E/_search => !DotSegment
    GET /logs,../_search => !DotSegment
    GET /logs/_doc/%2E. => !DotSegment
    GET /logs/_doc/.. => !DotSegment
    GET /%2e%2e%2e/_search => search ...
    GET //_search => !EmptySegment
    GET /logs//_search => !EmptySegment
    GET /logs/_search/ => search logs
    GET /logs/_search// => search logs
    GET / => info -
    GET // => info -
    GET /?pretty => info -
    # comma lists: ES splits the decoded value on ','
    GET /logs,secret/_search => search logs,secret
    GET /logs%2Csecret/_search => search logs,secret
    GET /logs%2csecret/_search => search logs,secret
    GET /,/_search => !EmptyName
    GET /%2C/_search => !EmptyName
    GET /logs,/_search => !EmptyName
    GET /logs,,secret/_search => !EmptyName
    # index expressions are kept for the ACL
    GET /_all/_search => search _all
    GET /<logs-{now%2Fd}>/_search => search <logs-{now/d}>
    GET /%3Clogs-%7Bnow%2Fd%7D%3E/_search => search <logs-{now/d}>
    GET /%3Clogs-%7Bnow%2Fd%7Byyyy.MM.dd%7C%2B12%3A00%7D%7D%3E/_search => search <logs-{now/d{yyyy.MM.dd|+12:00}}>
    GET /remote:logs-*/_search => search remote:logs-*
    GET /remote%3Alogs-*/_search => search remote:logs-*
    GET /:logs/_search => !EmptyRemoteCluster
    GET /-secret,*/_search => search -secret,*
    # raw bytes that must be encoded
    GET /caf\u{e9}/_search => !InvalidPathByte
    GET /logs\..\secret/_search => !InvalidPathByte
    GET /logs#/_search => !InvalidPathByte
    GET /logs\t/_search => !InvalidPathByte
    GET _search => !NotAbsolutePath
    GET http://es:9200/_search => !NotAbsolutePath
    GET * => !NotAbsolutePath
    # document ids may hold encoded '/' and ',': they are not lists
    GET /logs/_doc/a%2Fb%2Cc => get logs
    # query strings: path parameters win, missing ones must not come from the query
    # a body in `source` is read as the body (proxy::exchange)
    GET /_msearch?source=%7B%22index%22%3A%22secret%22%7D%0A%7B%7D%0A&source_content_type=application/x-ndjson => msearch -
    GET /_search?index=secret => !PathPartInQuery
    GET /_search?q=1&ind%65x=secret => !PathPartInQuery
    GET /_search?q=1;index=secret => !PathPartInQuery
    GET /logs/_search?index=secret => search logs
    GET /_search?q=index:secret => search -
    POST /_bulk?index=secret => !PathPartInQuery
    GET /_alias?name=secret => !PathPartInQuery
    GET /_snapshot?repository=secret => !PathPartInQuery
    GET /_cluster/health?index=secret => !PathPartInQuery
    GET /_cluster/health?%ZZ=1 => !BadPercentEncoding
";

#[test]
fn tricky_encodings() {
    for f in cases(TRICKY) {
        let (m, target) = (
            method(f[0]),
            f[1].replace("\\u{e9}", "\u{e9}").replace("\\t", "\t"),
        );
        assert_eq!(f[2], "=>", "{f:?}");
        let got = classify(m, &target);
        match (f[3].strip_prefix('!'), got) {
            (Some(want), Err(e)) => assert_eq!(format!("{e:?}"), want, "{target}"),
            (None, Ok(c)) => {
                assert_eq!(c.api, f[3], "{target}");
                let want: Vec<&str> = if f[4] == "-" {
                    vec![]
                } else {
                    f[4].split(',').collect()
                };
                assert_eq!(indices(&c), want, "{target}");
            }
            (_, got) => panic!("{target}: want {}, got {got:?}", f[3]),
        };
    }
    assert_eq!(classify(G, ""), Err(RouteError::NotAbsolutePath));
    assert_eq!(
        classify(G, "/lo gs/_search"),
        Err(RouteError::InvalidPathByte)
    );
}

#[test]
fn plain_parts_are_borrowed() {
    let c = ok(P, "/logs-2024.01.01/_search");
    assert!(matches!(
        c.parts.get("index").map(|p| &p.value),
        Some(Cow::Borrowed(_))
    ));
    assert!(!c.parts.0.spilled());
    let c = ok(G, "/%6cogs/_search");
    assert!(matches!(
        c.parts.get("index").map(|p| &p.value),
        Some(Cow::Owned(_))
    ));
    for target in [
        "/logs/_doc/1",
        "/logs/_alias/a",
        "/_snapshot/r/s",
        "/logs/_pit",
    ] {
        let c = ok(G, target);
        assert!(!c.parts.0.spilled(), "{target}");
    }
    let c = ok(G, "/logs/_mvt/location/3/4/5");
    assert_eq!(c.parts.len(), 5);
}

#[test]
fn implicit_all_and_body_hints() {
    assert!(ok(G, "/_search").targets_all(Role::Index));
    assert!(!ok(G, "/logs/_search").targets_all(Role::Index));
    assert!(ok(G, "/_stats").targets_all(Role::Index));
    assert!(ok(G, "/_cat/indices").targets_all(Role::Index));
    assert!(ok(G, "/_alias").targets_all(Role::Index));
    assert!(!ok(G, "/_cluster/settings").targets_all(Role::Index));
    assert!(ok(G, "/_snapshot").targets_all(Role::Repository));
    assert!(ok(G, "/_data_stream").targets_all(Role::DataStream));
    let bulk = ok(P, "/_bulk");
    assert_eq!(
        (bulk.body, bulk.targets_all(Role::Index)),
        (BodyIndices::Bulk, false)
    );
    assert_eq!(ok(P, "/logs/_bulk").body, BodyIndices::Bulk);
    assert_eq!(ok(P, "/_msearch").body, BodyIndices::Msearch);
    assert_eq!(ok(P, "/_mget").body, BodyIndices::Mget);
    assert_eq!(ok(P, "/_reindex").body, BodyIndices::Reindex);
    assert_eq!(ok(P, "/_aliases").body, BodyIndices::UpdateAliases);
    assert_eq!(ok(U, "/logs").body, BodyIndices::NewIndexAliases);
    assert_eq!(ok(P, "/_sql").body, BodyIndices::QueryText);
    // Settings bodies may set ingest pipelines; `PUT /_settings` still changes every index.
    let settings = ok(U, "/_settings");
    assert_eq!(
        (settings.body, settings.targets_all(Role::Index)),
        (BodyIndices::IndexSettings, true)
    );
    assert_eq!(ok(U, "/logs/_settings").body, BodyIndices::IndexSettings);
    assert_eq!(
        ok(U, "/_data_stream/logs-a/_settings").body,
        BodyIndices::IndexSettings
    );
    assert_eq!(ok(P, "/_create_from/a/b").body, BodyIndices::IndexSettings);
    assert_eq!(ok(G, "/logs/_settings").body, BodyIndices::None);
    // A pipeline definition names no index, but later writes run it.
    let definition = ok(U, "/_ingest/pipeline/p");
    assert_eq!(
        (definition.body, definition.targets_all(Role::Index)),
        (BodyIndices::PipelineDefinition, false)
    );
    assert_eq!(ok(G, "/_ingest/pipeline/p").body, BodyIndices::None);
    // Search-family bodies add lookups; a path without an index still means all of them.
    let search = ok(G, "/_search");
    assert_eq!(
        (search.body, search.targets_all(Role::Index)),
        (BodyIndices::Search, true)
    );
    for (method, target) in [
        (P, "/logs/_search"),
        (G, "/logs/_count"),
        (P, "/_cat/count/logs"),
        (G, "/logs/_validate/query"),
        (G, "/logs/_explain/1"),
        (P, "/logs/_delete_by_query"),
        (P, "/logs/_update_by_query"),
        (P, "/logs/_field_caps"),
        (P, "/logs/_terms_enum"),
        (P, "/logs/_async_search"),
        (P, "/logs/_knn_search"),
        (P, "/logs/_eql/search"),
        (P, "/logs/_pit"),
        (P, "/logs/_graph/explore"),
        (P, "/logs/_rollup_search"),
        (P, "/logs/_mvt/geo/1/2/3"),
        (P, "/logs/_fleet/_fleet_search"),
        (P, "/logs/doc/_search"),
    ] {
        assert_eq!(ok(method, target).body, BodyIndices::Search, "{target}");
    }
    let template = ok(G, "/_search/template");
    assert_eq!(
        (template.body, template.targets_all(Role::Index)),
        (BodyIndices::SearchTemplate, true)
    );
    assert_eq!(
        ok(P, "/logs/_search/template").body,
        BodyIndices::SearchTemplate
    );
    let msearch_template = ok(P, "/_msearch/template");
    assert_eq!(
        (
            msearch_template.body,
            msearch_template.targets_all(Role::Index)
        ),
        (BodyIndices::MsearchTemplate, false)
    );
    assert_eq!(ok(P, "/_fleet/_fleet_msearch").body, BodyIndices::Msearch);
    // Rendering a template runs no query.
    assert_eq!(ok(P, "/_render/template").body, BodyIndices::None);
    // Ranking evaluation runs searches of the path's indices (all without one).
    let rank_eval = ok(G, "/_rank_eval");
    assert_eq!(
        (rank_eval.body, rank_eval.targets_all(Role::Index)),
        (BodyIndices::RankEval, true)
    );
    assert_eq!(ok(P, "/logs/_rank_eval").body, BodyIndices::RankEval);
    let ds = ok(G, "/_data_stream/logs-a,logs-b");
    let names: Vec<&str> = ds.parts.names(Role::DataStream).collect();
    assert_eq!(names, ["logs-a", "logs-b"]);
    assert_eq!(ds.indices().count(), 0);
    let snap = ok(G, "/_snapshot/r1/s1,s2");
    assert_eq!(
        snap.parts.names(Role::Snapshot).collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    let doc = ok(G, "/logs/_doc/a,b");
    let id: Option<Vec<&str>> = doc.parts.get("id").map(|p| p.items().collect());
    assert_eq!(id, Some(vec!["a,b"]));
}

/// Elasticsearch 7.x typed routes: classified when only the typed route matches; refused when
/// 7.x and 8.x (or OpenSearch) would run different handlers for the same path.
#[test]
fn legacy_typed_routes() {
    let typed = "
        GET /logs/doc/1 get
        PUT /logs/doc/1 index
        POST /logs/doc index
        GET /logs/doc/_search search
        POST /logs/doc/_bulk bulk
        POST /logs/doc/1/_update update
        POST /logs/_doc/1/_update update
        HEAD /logs/doc/1 exists
    ";
    for f in cases(typed) {
        let c = ok(method(f[0]), f[1]);
        assert_eq!((c.api, c.is_legacy()), (f[2], true), "{f:?}");
        assert_eq!(indices(&c), ["logs"], "{f:?}");
    }
    // 7.x: count / search / mapping with type `_doc`; 8.x: the document `_count` etc.
    let ambiguous = "
        POST /logs/_doc/_count
        GET /logs/_doc/_count
        GET /logs/_doc/_search
        POST /logs/_doc/_mapping
    ";
    for f in cases(ambiguous) {
        let got = classify(method(f[0]), f[1]);
        assert_eq!(got, Err(RouteError::AmbiguousRoute), "{f:?}");
    }
    // The typeless forms are not affected.
    for (m, target) in [
        (G, "/logs/_doc/1"),
        (P, "/logs/_doc"),
        (P, "/logs/_create/1"),
    ] {
        assert!(!ok(m, target).is_legacy(), "{target}");
    }
}

/// Every route of the generated table, with sample part values, resolves to the API the
/// generator's independent transcription of ES's `PathTrie` expects (its own API in every case
/// today; the generator prints any exception).
#[test]
fn every_spec_path_classifies_back() {
    for (m, path, api) in table::SPEC_PATHS.iter() {
        match classify(*m, path) {
            Ok(c) => assert_eq!(c.api, *api, "{} {path}", m.as_str()),
            Err(e) => panic!("{} {path}: {e:?}", m.as_str()),
        }
    }
    assert!(table::SPEC_PATHS.len() > 850);
}

#[test]
fn table_is_well_formed() {
    for (i, node) in table::NODES.iter().enumerate() {
        let sorted = node
            .lits
            .windows(2)
            .all(|w| w[0].1 < w[1].1 && w[0].0 <= w[1].0);
        assert!(sorted, "node {i} literals unsorted");
        for (key, lit, child) in node.lits {
            assert_eq!(*key, trie::segment_key(lit));
            assert!(usize::from(*child) < table::NODES.len());
            assert!(!lit.is_empty() && !lit.contains(&b'/') && !lit.contains(&b'%'));
        }
        assert!(node.param == NO_NODE || usize::from(node.param) < table::NODES.len());
        for &r in node.routes {
            let route = &table::ROUTES[usize::from(r)];
            assert!(usize::from(route.api) < table::APIS.len());
            assert!(route.params.len() <= table::MAX_PARAMS);
        }
    }
}

/// No prefix and no single-byte mutation of realistic targets panics (a panic is a remote DoS).
#[test]
fn never_panics_on_prefixes_and_mutations() {
    let seeds = [
        "/logs-2024.01.01/_search?q=x",
        "/%3Clogs-%7Bnow%2Fd%7D%3E,-old/_doc/a%2Fb",
        "/_snapshot/r/s/_restore",
        "/logs/doc/1/_update",
        "/_security/service/elastic/fleet-server/credential/token/t1/_clear_cache",
    ];
    let alphabet = b"/%,.*:?#&;=_-+<>{}aZ09\\\x00\xff";
    let methods = [G, H, P, U, D, Method::Options, Method::Patch];
    for seed in seeds {
        let bytes = seed.as_bytes();
        for end in 0..=bytes.len() {
            for m in methods {
                let _ = classify_bytes(m, &bytes[..end]);
            }
        }
        for i in 0..bytes.len() {
            for &b in alphabet {
                let mut v = bytes.to_vec();
                v[i] = b;
                let _ = classify_bytes(P, &v);
                v.insert(i, b);
                let _ = classify_bytes(G, &v);
            }
        }
    }
}
