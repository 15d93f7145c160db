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
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single OpenSearch node started in-process, for tests only.
 *
 * <p>The distribution's bin/opensearch refuses to run as root; the root, jar-hell and
 * security-manager checks live in its Bootstrap class, which this launcher bypasses by building
 * the Node directly. Plugins that a distribution loads from modules/ are passed as classpath
 * plugins instead, so path.home must not contain a modules/ or plugins/ folder.
 *
 * <p>Arguments are node settings as key=value (like -E on the real CLI); scripts/backend.sh
 * passes path.home, path.data, http.port and friends.
 */
public final class EmbeddedNode extends Node {

    private EmbeddedNode(Environment environment) {
        // The protected constructor takes classpath plugins; `true` forbids private index
        // settings, as the real bootstrap does.
        super(environment,
              List.of(Netty4Plugin.class, CommonAnalysisPlugin.class, PainlessPlugin.class, ReindexPlugin.class,
                      IngestCommonPlugin.class),
              true);
    }

    public static void main(String[] args) throws Exception {
        Settings.Builder settings = Settings.builder()
            .put("cluster.name", "ringfence-opensearch")
            .put("network.host", "127.0.0.1")
            .put("discovery.type", "single-node")
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            // A test machine's disk may be fuller than the default watermarks allow; with
            // them on, new shards stay unassigned and health never turns green.
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

        // No opensearch.yml is read from here (none exists); the directory only has to exist.
        Path configDir = Path.of(initial.get("path.home"), "config");
        Files.createDirectories(configDir);
        Environment environment =
            InternalSettingsPreparer.prepareEnvironment(initial, Map.of(), configDir, () -> nodeName);

        EmbeddedNode node = new EmbeddedNode(environment);
        CountDownLatch closed = new CountDownLatch(1);
        // SIGTERM (scripts/backend.sh stop) runs this hook: close the node so it flushes and
        // releases its ports and node lock before the JVM exits.
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
        System.out.println("ringfence: OpenSearch node started: " + nodeName);
        closed.await();
    }
}
