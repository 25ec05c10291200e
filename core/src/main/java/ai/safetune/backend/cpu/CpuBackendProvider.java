package ai.safetune.backend.cpu;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.BackendProvider;

/** The pure-Java CPU backend: always available, lowest priority. */
public final class CpuBackendProvider implements BackendProvider {
    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public int priority() {
        return 0;
    }

    @Override
    public Availability availability() {
        return Availability.yes();
    }

    @Override
    public Backend create(BackendOptions options) {
        return new CpuBackend(options.resolvedThreads());
    }
}
