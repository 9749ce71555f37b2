# cartpk stein2019_ode (ode): written by cartpk <version> from the declaration (cartpk export --to nlmixr2)
# TIME: days since infusion. Data: cartpk export-data --to nlmixr2 --model stein2019_ode (DVID names the output: QPCR; CENS/LIMIT carry the censoring, which nlmixr2 uses in the likelihood).
stein2019_ode <- function() {
  description <- "cartpk model stein2019_ode"
  reference <- "Stein AM et al. 2019, CPT Pharmacometrics Syst Pharmacol 8:285, doi:10.1002/psp4.12388 (Figure 2, ODE form)"
  ini({
    lfoldx <- log(3900); label("fold expansion")  # foldx [1], log scale
    ltmax <- log(9.3); label("time of peak expansion")  # tmax [day], log scale
    lcmax <- log(24000); label("peak transgene level")  # cmax [copies/ug], log scale
    lalpha <- log(0.16); label("contraction rate")  # alpha [1/day], log scale
    logitfb <- logit(0.0079); label("fraction into persistence")  # fb [1], logit scale
    lbeta <- log(0.0032); label("persistence rate")  # beta [1/day], log scale
    eta.foldx ~ 2.4  # variance of the random effect on log(foldx) (cartpk declares its SD, 1.54919)
    eta.tmax ~ 0.38  # variance of the random effect on log(tmax) (cartpk declares its SD, 0.616441)
    eta.cmax ~ 0.65  # variance of the random effect on log(cmax) (cartpk declares its SD, 0.806226)
    eta.alpha ~ 0.91  # variance of the random effect on log(alpha) (cartpk declares its SD, 0.953939)
    eta.fb ~ 0.8  # variance of the random effect on logit(fb) (cartpk declares its SD, 0.894427)
    eta.beta ~ 0.86  # variance of the random effect on log(beta) (cartpk declares its SD, 0.927362)
    sigma <- 0.56; label("residual SD of QPCR (log_additive, sigma), natural-log scale")
  })
  model({
    # individual parameters (the declaration's transforms and covariate effects)
    foldx <- exp(lfoldx + eta.foldx)
    tmax <- exp(ltmax + eta.tmax)
    cmax <- exp(lcmax + eta.cmax)
    alpha <- exp(lalpha + eta.alpha)
    fb <- expit(logitfb + eta.fb)
    beta <- exp(lbeta + eta.beta)
    # compartments in the declaration's order (the data's CMT)
    cmt(effector)
    cmt(memory)
    # state at t = 0 without the dose; the dose: f(state) per unit AMT
    effector(0) <- cmax/foldx
    f(effector) <- 0  # the equations do not use the dose (its CMT=1)
    # the declaration's rhs
    if (t < tmax) {
      rhs_effector_1 <- log(foldx)/tmax
    } else {
      rhs_effector_1 <- -alpha
    }
    d/dt(effector) <- effector*rhs_effector_1
    if (t < tmax) {
      d/dt(memory) <- 0
    } else {
      d/dt(memory) <- -beta*memory + effector*fb*(alpha - beta)
    }
    # the declaration's observe
    QPCR <- effector + memory
    # residual error
    QPCR ~ lnorm(sigma)
  })
}
