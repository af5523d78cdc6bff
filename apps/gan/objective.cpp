#include "apps/gan/objective.h"

namespace gramgan::gan {

Variable GanObjective::discriminator_term(const Variable& score_real, const Variable& score_fake) const {
  const autograd::LayerScope scope("loss.lsgan_d");
  return autograd::lsgan_d_loss(score_real, score_fake);
}

Variable GanObjective::discriminator_loss(const Variable& lsgan_d) const {
  const autograd::LayerScope scope("loss.L_D");
  return weighted_sum({{lambdas_.adv, lsgan_d}});
}

Variable GanObjective::generator_adversarial_term(const Variable& score_fake) const {
  const autograd::LayerScope scope("loss.lsgan_g");
  return autograd::lsgan_g_loss(score_fake);
}

Variable GanObjective::generator_loss(const PerceptualTerms& perceptual, const Variable& adv) const {
  const autograd::LayerScope scope("loss.L_G");
  return weighted_sum({{lambdas_.content, perceptual.content},
                       {lambdas_.style, perceptual.style},
                       {lambdas_.tv, perceptual.tv},
                       {lambdas_.adv, adv}});
}

}  // namespace gramgan::gan
