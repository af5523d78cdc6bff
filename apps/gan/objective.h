// The GAN objective (DESIGN.md section 3), assembled from its raw terms:
//   L_D = l3 LSGAN_D(D(real), D(G(x)))                      LSGAN_D(r, f) = mean((r - 1)^2) + mean(f^2)
//   L_G = l1 content + l2 style + l3 LSGAN_G(D(G(x))) + l4 TV   LSGAN_G(f) = mean((f - 1)^2)
// (Mao et al. 2017: D pushes real scores to 1 and fake ones to 0, G pushes fake ones to 1.) The trainer runs the
// networks and the perceptual terms (losses.h); the weights and the sums live here and nowhere else.
#pragma once

#include "apps/gan/losses.h"

namespace gramgan::gan {

// Defaults calibrated at initialisation (apps/README.md, "Defaults and how they were chosen"): with them the
// weighted content and style terms are of the same order, TV about 1% and the adversarial term about 10% of the
// content term.
struct LossWeights {
  double content = 1.0, style = 5e3, adv = 0.1, tv = 0.1;
};

class GanObjective {
 public:
  explicit GanObjective(const LossWeights& lambdas) : lambdas_(lambdas) {}
  const LossWeights& lambdas() const { return lambdas_; }

  // With l3 = 0 there is no adversarial term: no D step and no D in G's loss.
  bool adversarial() const { return lambdas_.adv != 0; }

  // LSGAN_D of D's scores on real crops and on G's (detached) output, unweighted.
  Variable discriminator_term(const Variable& score_real, const Variable& score_fake) const;
  // L_D from that term.
  Variable discriminator_loss(const Variable& lsgan_d) const;

  // LSGAN_G of D's scores on G's output, unweighted.
  Variable generator_adversarial_term(const Variable& score_fake) const;
  // L_G from the perceptual terms and `adv` (undefined when not adversarial()). The terms are added in a fixed
  // order (content, style, TV, adversarial), so a run's losses are bitwise reproducible.
  Variable generator_loss(const PerceptualTerms& perceptual, const Variable& adv) const;

 private:
  LossWeights lambdas_;
};

}  // namespace gramgan::gan
