import { RecallkitError, tf } from '@recallkit/core';

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Adam: L2 penalty added to the gradient. AdamW: decoupled decay of the weights (default 0.01). */
  weightDecay?: number;
}

/** A learning rate for every variable, or one per variable (e.g. a separate rate for the head). */
export type LearningRate = number | ((variable: tf.Variable, index: number) => number);

/** Optimiser state as plain data, aligned with the variable list it was taken for. */
export interface OptimizerState {
  kind: 'adam' | 'adamw';
  iterations: number;
  /** First and second moments per variable; null for a variable not stepped yet. */
  moments: Array<{ m: Float32Array; v: Float32Array } | null>;
}

export interface Optimizer {
  readonly kind: 'adam' | 'adamw';
  /** Base learning rate, used where `step` is given none. */
  learningRate: number;
  readonly iterations: number;
  step(variables: tf.Variable[], gradients: tf.Tensor[], learningRate?: LearningRate): void;
  getState(variables: tf.Variable[]): OptimizerState;
  setState(variables: tf.Variable[], state: OptimizerState): void;
  dispose(): void;
}

/** Adam (Kingma & Ba) with optional L2 weight decay folded into the gradient, as torch.optim.Adam. */
export function adam(options: AdamOptions): Optimizer {
  return new AdamOptimizer('adam', options, options.weightDecay ?? 0);
}

/** AdamW (Loshchilov & Hutter): Adam plus weight decay applied to the weights, decoupled from the gradient. */
export function adamW(options: AdamOptions): Optimizer {
  return new AdamOptimizer('adamw', options, options.weightDecay ?? 0.01);
}

class AdamOptimizer implements Optimizer {
  learningRate: number;
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly slots = new Map<tf.Variable, { m: tf.Variable; v: tf.Variable }>();

  constructor(
    readonly kind: 'adam' | 'adamw',
    options: AdamOptions,
    private readonly weightDecay: number,
  ) {
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    checkNumber('learningRate', this.learningRate, 0, Number.POSITIVE_INFINITY);
    checkNumber('beta1', this.beta1, 0, 1);
    checkNumber('beta2', this.beta2, 0, 1);
    checkNumber('epsilon', this.epsilon, 0, Number.POSITIVE_INFINITY);
    checkNumber('weightDecay', weightDecay, 0, Number.POSITIVE_INFINITY);
  }

  get iterations(): number {
    return this.t;
  }

  step(variables: tf.Variable[], gradients: tf.Tensor[], learningRate?: LearningRate): void {
    if (variables.length !== gradients.length) {
      throw new RecallkitError(
        'INVALID_INPUT',
        `got ${gradients.length} gradients for ${variables.length} variables`,
      );
    }
    this.t += 1;
    // Bias corrections computed in double precision, as torch does.
    const correction1 = 1 - this.beta1 ** this.t;
    const sqrtCorrection2 = Math.sqrt(1 - this.beta2 ** this.t);
    variables.forEach((variable, i) => {
      const lr = rateFor(learningRate ?? this.learningRate, variable, i);
      const grad = gradients[i] as tf.Tensor;
      const slot = this.slotOf(variable);
      tf.tidy(() => {
        let g = grad;
        let w: tf.Tensor = variable;
        if (this.weightDecay > 0 && this.kind === 'adam') g = tf.add(g, tf.mul(w, this.weightDecay));
        if (this.weightDecay > 0 && this.kind === 'adamw') w = tf.mul(w, 1 - lr * this.weightDecay);
        const m = tf.add(tf.mul(slot.m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(slot.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtCorrection2), this.epsilon);
        slot.m.assign(m);
        slot.v.assign(v);
        variable.assign(tf.sub(w, tf.mul(tf.div(m, denom), lr / correction1)));
      });
    });
  }

  getState(variables: tf.Variable[]): OptimizerState {
    return {
      kind: this.kind,
      iterations: this.t,
      moments: variables.map((variable) => {
        const slot = this.slots.get(variable);
        if (!slot) return null;
        return { m: slot.m.dataSync() as Float32Array, v: slot.v.dataSync() as Float32Array };
      }),
    };
  }

  setState(variables: tf.Variable[], state: OptimizerState): void {
    if (state.kind !== this.kind || state.moments.length !== variables.length) {
      throw new RecallkitError(
        'OPTIMIZER_STATE_MISMATCH',
        `optimiser state of ${state.kind} for ${state.moments.length} variables cannot restore ${this.kind} over ${variables.length} variables`,
      );
    }
    this.dispose();
    this.t = state.iterations;
    variables.forEach((variable, i) => {
      const moments = state.moments[i];
      if (!moments) return;
      const size = variable.size;
      if (moments.m.length !== size || moments.v.length !== size) {
        throw new RecallkitError(
          'OPTIMIZER_STATE_MISMATCH',
          `optimiser moments of variable ${i} hold ${moments.m.length} values; '${variable.name}' has ${size}`,
        );
      }
      this.slots.set(
        variable,
        tf.tidy(() => ({
          m: tf.variable(tf.tensor(moments.m, variable.shape), false),
          v: tf.variable(tf.tensor(moments.v, variable.shape), false),
        })),
      );
    });
  }

  dispose(): void {
    for (const { m, v } of this.slots.values()) tf.dispose([m, v]);
    this.slots.clear();
  }

  private slotOf(variable: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let slot = this.slots.get(variable);
    if (!slot) {
      // tidy frees the zeros; the variables survive it.
      slot = tf.tidy(() => ({
        m: tf.variable(tf.zerosLike(variable), false),
        v: tf.variable(tf.zerosLike(variable), false),
      }));
      this.slots.set(variable, slot);
    }
    return slot;
  }
}

function rateFor(rate: LearningRate, variable: tf.Variable, index: number): number {
  const lr = typeof rate === 'function' ? rate(variable, index) : rate;
  checkNumber('learning rate', lr, 0, Number.POSITIVE_INFINITY);
  return lr;
}

function checkNumber(name: string, value: number, min: number, max: number): void {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${name} must be a finite number in [${min}, ${max}]; got ${value}`,
    );
  }
}
