package ringfence.backend;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single OpenSearch node with the Security plugin, started in-process, for tests only.
 *
 * <p>Like backend/opensearch's launcher it skips the distribution's Bootstrap (root, jar-hell and
 * security-manager checks) and passes plugins as classpath plugins. The Security plugin is not a
 * compile-time dependency (Maven Central has it only as the installable zip): scripts/backend.sh
 * puts the zip's jars on the classpath and this class loads the plugin by name.
 *
 * <p>The security settings (certificates, admin and node DNs) come from config/opensearch.yml,
 * which scripts/backend.sh writes; InternalSettingsPreparer reads it. Arguments are extra node
 * settings as key=value.
 */
public final class EmbeddedNode extends Node {

    static final String SECURITY_PLUGIN = "org.opensearch.security.OpenSearchSecurityPlugin";

    private EmbeddedNode(Environment environment, List<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    public static void main(String[] args) throws Exception {
        // http.type and transport.type are left unset: the Security plugin's additionalSettings
        // choose its TLS transports, and an explicit netty4 here would silently win over them.
        Settings.Builder settings = Settings.builder()
            .put("cluster.name", "ringfence-opensearch-secured")
            .put("network.host", "127.0.0.1")
            .put("discovery.type", "single-node")
            .put("cluster.routing.allocation.disk.threshold_enabled", false);
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected key=value, got: " + arg);
            }
            settings.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        Settings initial = settings.build();
        String nodeName = initial.get("node.name", "ringfence-node");

        Path configDir = Path.of(initial.get("path.home"), "config");
        Files.createDirectories(configDir);
        Environment environment =
            InternalSettingsPreparer.prepareEnvironment(initial, Map.of(), configDir, () -> nodeName);

        Class<? extends Plugin> security = Class.forName(SECURITY_PLUGIN).asSubclass(Plugin.class);
        EmbeddedNode node = new EmbeddedNode(environment,
            List.of(Netty4Plugin.class, CommonAnalysisPlugin.class, security));
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "ringfence-node-shutdown"));

        node.start();
        System.out.println("ringfence: OpenSearch node (security plugin) started: " + nodeName);
        closed.await();
    }
}
