/* backend: the backends compiled in, by the name --device gives. */
#include "nn/nn.h"

#include <string.h>

#include "err.h"

const char *tgs_backend_names(void) { return "cpu, sim"; }

const struct tgs_backend *tgs_backend_by_name(const char *name) {
    if (strcmp(name, "cpu") == 0) return tgs_backend_cpu();
    if (strcmp(name, "sim") == 0) return tgs_backend_sim();
    if (strcmp(name, "cuda") == 0) {
        tgs_err("device 'cuda' is not built in: the CUDA backend is not written yet (there are %s)", tgs_backend_names());
        return NULL;
    }
    tgs_err("unknown device '%s' (there are %s)", name, tgs_backend_names());
    return NULL;
}
