package ringfence.yamlrest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

import com.carrotsearch.randomizedtesting.annotations.Name;
import com.carrotsearch.randomizedtesting.annotations.ParametersFactory;

import org.apache.http.HttpHost;
import org.opensearch.Version;
import org.opensearch.client.Node;
import org.opensearch.client.RestClient;
import org.opensearch.client.RestClientBuilder;
import org.opensearch.client.sniff.OpenSearchNodesSniffer;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.util.concurrent.ThreadContext;
import org.opensearch.test.rest.yaml.ClientYamlTestCandidate;
import org.opensearch.test.rest.yaml.ClientYamlTestClient;
import org.opensearch.test.rest.yaml.ClusterHostYamlTestClients;
import org.opensearch.test.rest.yaml.OpenSearchClientYamlSuiteTestCase;
import org.opensearch.test.rest.yaml.restspec.ClientYamlSuiteRestSpec;

/**
 * OpenSearch's own YAML REST suite (the tests in org.opensearch:rest-api-spec) against
 * {@code -Dtests.rest.cluster=host:port}: a node, or Ringfence in front of one.
 *
 * <p>Two changes to the stock runner so that a gateway in front sees every request (and JSON
 * bodies, see {@link #randomizeContentType}):
 * <ul>
 *   <li>{@code -Dringfence.basic_auth=user:password} adds a default {@code Authorization: Basic}
 *   header to the test and admin clients (setup, the tests and the cleanup after each test).
 *   <li>Steps with a {@code node_selector} get a client from the framework's supplier, which
 *   by default points at the nodes' sniffed publish addresses, i.e. straight at the node behind
 *   the gateway. Here the sniffed nodes keep their metadata (version, attributes, roles, which
 *   the selectors read) but are reached through the configured cluster host.
 * </ul>
 */
public class YamlRestSuiteTests extends OpenSearchClientYamlSuiteTestCase {

    /** System property with the Basic credentials, {@code user:password}; unset sends none. */
    static final String BASIC_AUTH_PROPERTY = "ringfence.basic_auth";

    public YamlRestSuiteTests(@Name("yaml") ClientYamlTestCandidate testCandidate) {
        super(testCandidate);
    }

    @ParametersFactory
    public static Iterable<Object[]> parameters() throws Exception {
        return createParameters();
    }

    @Override
    protected Settings restClientSettings() {
        Settings.Builder settings = Settings.builder().put(super.restClientSettings());
        String credentials = System.getProperty(BASIC_AUTH_PROPERTY, "");
        if (credentials.isEmpty() == false) {
            String token = Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8));
            // configureClient turns request.headers.* settings into the client's default headers.
            settings.put(ThreadContext.PREFIX + ".Authorization", "Basic " + token);
        }
        return settings.build();
    }

    /**
     * Bodies go out as JSON, as every Elasticsearch and OpenSearch client sends them, not in a
     * random one of JSON, YAML, CBOR and SMILE. The gateway reads some bodies to decide (indices
     * looked up by a query, point-in-time and scroll ids) and refuses those in the other three
     * types with 415 rather than read them differently from the node (SECURITY.md); that
     * refusal is tested in tests/es_rules.rs and tests/search_contexts.rs. Direct runs send the
     * same, so both runs stay comparable.
     */
    @Override
    protected boolean randomizeContentType() {
        return false;
    }

    @Override
    protected ClientYamlTestClient initClientYamlTestClient(
        ClientYamlSuiteRestSpec restSpec,
        RestClient restClient,
        List<HttpHost> hosts,
        Version minVersion,
        Version clusterManagerVersion
    ) {
        return ClusterHostYamlTestClients.create(
            restSpec,
            restClient,
            hosts,
            minVersion,
            clusterManagerVersion,
            () -> clusterHostBuilder(hosts)
        );
    }

    /**
     * A client builder whose nodes are the sniffed ones (for their metadata) with the address
     * replaced by the single configured cluster host. Several hosts are refused rather than
     * guessed at (one gateway per node would need a map). Made for a one-node cluster: the
     * RestClient keys nodes by host, so several sniffed nodes behind one host would collapse
     * into the last of them.
     */
    private RestClientBuilder clusterHostBuilder(List<HttpHost> hosts) throws IOException {
        if (hosts.size() != 1) {
            throw new IllegalStateException("node_selector steps need exactly one tests.rest.cluster host, got " + hosts);
        }
        HttpHost clusterHost = hosts.get(0);
        OpenSearchNodesSniffer sniffer = new OpenSearchNodesSniffer(
            adminClient(),
            OpenSearchNodesSniffer.DEFAULT_SNIFF_REQUEST_TIMEOUT,
            OpenSearchNodesSniffer.Scheme.valueOf(getProtocol().toUpperCase(Locale.ROOT))
        );
        List<Node> nodes = new ArrayList<>();
        for (Node sniffed : sniffer.sniff()) {
            nodes.add(
                new Node(
                    clusterHost,
                    sniffed.getBoundHosts(),
                    sniffed.getName(),
                    sniffed.getVersion(),
                    sniffed.getRoles(),
                    sniffed.getAttributes()
                )
            );
        }
        RestClientBuilder builder = RestClient.builder(nodes.toArray(new Node[0]));
        configureClient(builder, restClientSettings());
        return builder;
    }
}
