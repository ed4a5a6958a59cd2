/*  momentum.h: the local update rules of the momentum and tracking algorithms, as pure
    functions over flat vectors (tested on hand-computed two-agent rounds). The gossip
    itself (W x) is the agent's job (mdl_ctx_mix); these are what happens around it.

      DmSGD / QGM local step   u = mu m + g  (heavy ball)  or  g + mu (mu m + g)  (Nesterov)
      QGM momentum             m <- mu m + (1 - mu) (x_before - x_after) / lr
      DecentLaM step           m <- beta m + g + (x - Wx) / lr ;  x <- x - lr m
      gradient tracking        y <- y + g_new - g_old ;  g_old <- g_new            */
#ifndef MDL_MOMENTUM_H
#define MDL_MOMENTUM_H

#include <stdbool.h>
#include <stddef.h>

/* u = mu m + g, or with nesterov g + mu (mu m + g). u may alias g. */
void mdl_mom_direction (float *u, const float *m, const float *g, float mu, bool nesterov, size_t d);

/* Quasi-global momentum (Lin et al., ICML 2021): the buffer follows the model's
   displacement over a whole round, local step and gossip together:
   m <- mu m + (1 - mu) (x_before - x_after) / lr. lr must be > 0. */
void mdl_qgm_momentum (float *m, const float *x_before, const float *x_after, float mu, float lr, size_t d);

/* DecentLaM (Yuan et al., ICCV 2021): momentum on the D-SGD direction, gradient plus the
   consensus pull, g~ = g + (x - Wx) / lr; m <- beta m + g~; x <- x - lr m, which is
   x <- Wx - lr (beta m_old + g). wx is W x (the gossip of this round). lr must be > 0. */
void mdl_decentlam_step (float *x, float *m, const float *g, const float *wx, float beta, float lr, size_t d);

/* Gradient tracking's correction: y <- y + g_new - g_old, then g_old <- g_new. */
void mdl_gt_track (float *y, float *g_old, const float *g_new, size_t d);

#endif
