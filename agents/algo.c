/*  algo.c: the registry of consensus algorithms. Adding one: a file with its
    mdl_algo_ops_t, and one line here. */
#include "algo.h"

#include <string.h>

extern const mdl_algo_ops_t mdl_algo_dpsgd;
extern const mdl_algo_ops_t mdl_algo_choco;
extern const mdl_algo_ops_t mdl_algo_adagossip;
extern const mdl_algo_ops_t mdl_algo_localsgd;
extern const mdl_algo_ops_t mdl_algo_adpsgd;

static const mdl_algo_ops_t *s_algos[] = {
    &mdl_algo_dpsgd,
    &mdl_algo_choco,
    &mdl_algo_adagossip,
    &mdl_algo_localsgd,
    &mdl_algo_adpsgd,
};

const mdl_algo_ops_t *
mdl_algo_find (const char *name)
{
    for (size_t i = 0; i < sizeof s_algos / sizeof s_algos[0]; i++)
        if (strcmp (s_algos[i]->name, name) == 0)
            return s_algos[i];
    return NULL;
}

const char *
mdl_algo_names (void)
{
    return "dpsgd, choco, adagossip, localsgd, adpsgd";
}
