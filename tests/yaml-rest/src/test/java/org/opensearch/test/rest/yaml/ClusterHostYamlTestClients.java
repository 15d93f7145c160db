package org.opensearch.test.rest.yaml;

import java.io.IOException;
import java.util.List;

import org.apache.http.HttpHost;
import org.opensearch.Version;
import org.opensearch.client.RestClient;
import org.opensearch.client.RestClientBuilder;
import org.opensearch.common.CheckedSupplier;
import org.opensearch.test.rest.yaml.restspec.ClientYamlSuiteRestSpec;

/**
 * Lives in the framework's package only to reach {@link ClientYamlTestClient}'s package-private
 * constructor: the public test case can then hand it its own supplier of clients for steps with a
 * {@code node_selector} (see {@code ringfence.yamlrest.YamlRestSuiteTests}). Nothing else here.
 */
public final class ClusterHostYamlTestClients {

    private ClusterHostYamlTestClients() {}

    public static ClientYamlTestClient create(
        ClientYamlSuiteRestSpec restSpec,
        RestClient restClient,
        List<HttpHost> hosts,
        Version minVersion,
        Version clusterManagerVersion,
        CheckedSupplier<RestClientBuilder, IOException> selectorClients
    ) {
        return new ClientYamlTestClient(restSpec, restClient, hosts, minVersion, clusterManagerVersion, selectorClients);
    }
}
