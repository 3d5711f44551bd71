import { RecallkitError } from '@recallkit/core';

export interface StepScheduleOptions {
  /** Epochs (or steps) at which the rate is multiplied by gamma, ascending. */
  milestones: number[];
  /** Factor applied at each milestone (the authors' SOP recipe: 0.3 at epochs 25 and 50). */
  gamma: number;
}

/** Multiplier of the base learning rate at a given epoch (or step), as torch's MultiStepLR. */
export type Schedule = (at: number) => number;

/** The paper's step schedule: the rate is multiplied by gamma at each milestone passed. */
export function stepSchedule({ milestones, gamma }: StepScheduleOptions): Schedule {
  if (!(Number.isFinite(gamma) && gamma > 0)) {
    throw new RecallkitError('INVALID_OPTION', `gamma must be a positive number; got ${gamma}`);
  }
  milestones.forEach((m, i) => {
    if (!Number.isInteger(m) || m < 0 || (i > 0 && m <= (milestones[i - 1] as number))) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `milestones must be ascending non-negative integers; got [${milestones.join(', ')}]`,
      );
    }
  });
  return (at) => gamma ** milestones.filter((m) => at >= m).length;
}
